//! sudo on the node (`become`): finds out once per host whether sudo needs a
//! password, checks the password before any change, and wraps commands so
//! the password travels on stdin to `sudo -S`, never in argv, logs or output.

use std::sync::Mutex;

use crate::transport::{CommandOutput, RemoteCommand, Transport, TransportError};

/// A secret that prints as `***` and never serialises.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How sudo behaves on a host, learned by [`Remote::prepare_become`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// sudo runs without asking (NOPASSWD).
    NoPassword,
    /// sudo asks; the password is fed on stdin to every become command.
    Password,
}

/// sudo cannot be used on a host. Nothing has been changed when this happens.
#[derive(Debug, thiserror::Error)]
pub enum BecomeError {
    #[error("sudo on {host} needs a password: pass -K to be asked for it, or set SPARKLINK_BECOME_PASSWORD")]
    PasswordNeeded { host: String },
    #[error("sudo on {host} rejected the password (check -K or SPARKLINK_BECOME_PASSWORD; nothing was changed)")]
    WrongPassword { host: String },
    #[error("sudo on {host} demands a terminal (Defaults requiretty): remove requiretty for this user with visudo on the node")]
    NeedsTty { host: String },
    #[error("{user} may not use sudo on {host}: add the user to the sudo group on the node")]
    NotAllowed { host: String, user: String },
    #[error("sudo failed on {host}: {detail}")]
    Other { host: String, detail: String },
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// A host's connection plus what is needed to run commands on it as root.
pub struct Remote {
    host: String,
    transport: Box<dyn Transport>,
    password: Option<Secret>,
    timeout: std::time::Duration,
    mode: Mutex<Option<Mode>>,
}

impl Remote {
    pub fn new(
        host: String,
        transport: Box<dyn Transport>,
        password: Option<Secret>,
        timeout: std::time::Duration,
    ) -> Self {
        Self {
            host,
            transport,
            password,
            timeout,
            mode: Mutex::new(None),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// A remote over a new transport to the same host, with the same sudo
    /// password and timeout (sudo is probed again on first use).
    pub fn reopen(&self, transport: Box<dyn Transport>) -> Remote {
        Remote::new(
            self.host.clone(),
            transport,
            self.password.clone(),
            self.timeout,
        )
    }

    /// Runs `argv` on the host, as root through sudo when `as_root` is set.
    /// [`Remote::prepare_become`] must have succeeded first for `become`.
    pub async fn run(
        &self,
        argv: Vec<String>,
        stdin: Option<Vec<u8>>,
        as_root: bool,
    ) -> Result<CommandOutput, TransportError> {
        let command = if as_root {
            let mode = *self.mode.lock().unwrap_or_else(|e| e.into_inner());
            wrap(argv, stdin, mode, self.password.as_ref(), self.timeout)
        } else {
            RemoteCommand {
                argv,
                stdin,
                timeout: self.timeout,
            }
        };
        self.transport.run(&command).await
    }

    /// Learns whether sudo needs a password and, if so, checks it; done
    /// once per host, before the first task that changes anything.
    pub async fn prepare_become(&self, user: &str) -> Result<(), BecomeError> {
        if self
            .mode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let probe = RemoteCommand {
            argv: args(&["sudo", "-n", "true"]),
            stdin: None,
            timeout: self.timeout,
        };
        let out = self.transport.run(&probe).await?;
        let mode = if out.success() {
            Mode::NoPassword
        } else {
            self.classify(&out, user)?;
            let Some(password) = &self.password else {
                return Err(BecomeError::PasswordNeeded {
                    host: self.host.clone(),
                });
            };
            let check = wrap(
                args(&["true"]),
                None,
                Some(Mode::Password),
                Some(password),
                self.timeout,
            );
            let out = self.transport.run(&check).await?;
            if !out.success() {
                self.classify(&out, user)?;
                return Err(BecomeError::WrongPassword {
                    host: self.host.clone(),
                });
            }
            Mode::Password
        };
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = Some(mode);
        Ok(())
    }

    /// Turns sudo's refusals that are not about the password into errors.
    fn classify(&self, out: &CommandOutput, user: &str) -> Result<(), BecomeError> {
        let stderr = out.stderr_text();
        let host = self.host.clone();
        if stderr.contains("must have a tty") || stderr.contains("requiretty") {
            Err(BecomeError::NeedsTty { host })
        } else if stderr.contains("not in the sudoers")
            || stderr.contains("may not run sudo")
            || stderr.contains("not allowed to")
        {
            Err(BecomeError::NotAllowed {
                host,
                user: user.to_owned(),
            })
        } else if out.status == Some(127) {
            Err(BecomeError::Other {
                host,
                detail: "sudo is not installed".to_owned(),
            })
        } else {
            Ok(())
        }
    }

    /// Takes the node's run lock for as long as this connection lives, so
    /// two runs never interleave on a node. The lock is a `flock` held by a
    /// command whose input is this connection: it is released when sparklink
    /// closes the connection or dies. Returns who holds it when another run
    /// has it.
    pub async fn lock(&self, owner: &str) -> Result<Option<String>, TransportError> {
        let command = RemoteCommand {
            argv: vec![
                "sh".into(),
                "-c".into(),
                LOCK.into(),
                "sparklink-lock".into(),
                owner.into(),
            ],
            stdin: None,
            timeout: self.timeout,
        };
        let first = self.transport.hold(&command).await?;
        if first == "locked" {
            return Ok(None);
        }
        match first.strip_prefix("busy") {
            Some(holder) => Ok(Some(holder.trim().to_owned())),
            None => Err(command.failed(self.host(), format!("cannot take the run lock: {first}"))),
        }
    }

    /// Closes the connection.
    pub async fn close(self) -> Result<(), TransportError> {
        self.transport.close().await
    }
}

/// Holds /run/lock/sparklink.lock until stdin closes; prints `locked`, or
/// `busy` and the holder, or why no lock can be taken. Only `sh` and `flock` run: the owner line comes
/// ready-made and the wait for end of input is the shell's own `read`.
/// Hosts of one inventory that share a filesystem
/// (several sshd on one machine) share the lock: when the holder is this
/// very run (`$1`, which names its pid), the host counts as locked. The
/// holder writes its name just after taking the lock, so a busy lock is
/// looked at for up to a second before it is called another run's.
const LOCK: &str = r#"command -v flock >/dev/null || { echo "flock is not installed (it comes with util-linux)"; exit 0; }
lock=/run/lock/sparklink.lock; [ -d /run/lock ] || lock=/tmp/sparklink.lock
exec 9>>"$lock" || { echo "busy (cannot open $lock)"; exit 0; }
if ! flock -n 9; then
  i=0
  while [ $i -lt 10 ]; do
    case "$(cat "$lock.owner" 2>/dev/null)" in "$1") echo locked; exit 0;; esac
    flock -n 9 && break
    sleep 0.1; i=$((i+1))
  done
  [ $i -lt 10 ] || { echo "busy $(cat "$lock.owner" 2>/dev/null)"; exit 0; }
fi
printf '%s\n' "$1" > "$lock.owner" 2>/dev/null || true
echo locked
while read -r _; do :; done"#;

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// `sudo -n -- argv` when sudo asks for nothing; otherwise
/// `sudo -k -S -p '' -- argv` with the password as the first stdin line:
/// `-k` makes sudo ask every time, so the line is always consumed by sudo and
/// never reaches the command.
fn wrap(
    argv: Vec<String>,
    stdin: Option<Vec<u8>>,
    mode: Option<Mode>,
    password: Option<&Secret>,
    timeout: std::time::Duration,
) -> RemoteCommand {
    match (mode, password) {
        (Some(Mode::Password), Some(password)) => {
            let mut input = Vec::with_capacity(password.expose().len() + 1);
            input.extend_from_slice(password.expose().as_bytes());
            input.push(b'\n');
            input.extend(stdin.unwrap_or_default());
            let mut full = args(&["sudo", "-k", "-S", "-H", "-p", "", "--"]);
            full.extend(argv);
            RemoteCommand {
                argv: full,
                stdin: Some(input),
                timeout,
            }
        }
        _ => {
            let mut full = args(&["sudo", "-n", "-H", "--"]);
            full.extend(argv);
            RemoteCommand {
                argv: full,
                stdin,
                timeout,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn password_goes_to_stdin_never_argv() {
        let secret = Secret::new("hunter2".to_owned());
        let cmd = wrap(
            args(&["cat"]),
            Some(b"body".to_vec()),
            Some(Mode::Password),
            Some(&secret),
            Duration::from_secs(1),
        );
        assert!(cmd.argv.iter().all(|a| !a.contains("hunter2")));
        assert_eq!(
            cmd.argv,
            args(&["sudo", "-k", "-S", "-H", "-p", "", "--", "cat"])
        );
        assert_eq!(cmd.stdin.as_deref(), Some(&b"hunter2\nbody"[..]));
        assert!(!format!("{cmd:?}").contains("hunter2"));
        assert_eq!(format!("{secret:?}"), "***");
    }

    #[test]
    fn passwordless_sudo_sends_no_password() {
        let secret = Secret::new("hunter2".to_owned());
        let cmd = wrap(
            args(&["id"]),
            None,
            Some(Mode::NoPassword),
            Some(&secret),
            Duration::from_secs(1),
        );
        assert_eq!(cmd.argv, args(&["sudo", "-n", "-H", "--", "id"]));
        assert!(cmd.stdin.is_none());
    }
}
