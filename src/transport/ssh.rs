//! The OpenSSH transport: one master connection per host (the user's
//! `~/.ssh/config` and `known_hosts` apply as they do for `ssh`), every
//! command sent over its mux socket by the native mux client, so no `ssh`
//! process is spawned per command.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use openssh::{Child, ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::{CommandOutput, Connection, Connector, RemoteCommand, Transport, TransportError};

/// Options every connection shares.
#[derive(Clone, Debug)]
pub struct SshOptions {
    pub connect_timeout: Duration,
    /// Strict by default: an unknown host key is an error, never trusted on first use.
    pub strict_host_keys: bool,
}

/// Opens OpenSSH master connections.
pub struct SshConnector {
    pub options: SshOptions,
}

/// One host's master connection.
pub struct SshTransport {
    host: String,
    session: Arc<Session>,
    /// Commands kept running for the life of the connection (the run lock).
    held: Mutex<Vec<Child<Arc<Session>>>>,
}

impl Connector for SshConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        connection: &'a Connection,
    ) -> BoxFuture<'a, Result<Box<dyn Transport>, TransportError>> {
        async move {
            let mut builder = SessionBuilder::default();
            builder
                .known_hosts_check(if self.options.strict_host_keys {
                    KnownHosts::Strict
                } else {
                    KnownHosts::Add
                })
                .connect_timeout(self.options.connect_timeout)
                .server_alive_interval(Duration::from_secs(5))
                // A master left behind by a killed sparklink exits once idle.
                .control_persist(ControlPersist::IdleFor(
                    std::num::NonZeroUsize::new(30).unwrap_or(std::num::NonZeroUsize::MIN),
                ));
            if let Some(user) = &connection.user {
                builder.user(user.clone());
            }
            if let Some(port) = connection.port {
                builder.port(port);
            }
            if let Some(key) = &connection.key_file {
                builder.keyfile(key);
            }
            if let Some(config) = &connection.ssh_config {
                builder.config_file(config);
            }
            let session = builder
                .connect_mux(&connection.address)
                .await
                .map_err(|e| classify(host, &connection.address, e))?;
            Ok(Box::new(SshTransport {
                host: host.to_owned(),
                session: Arc::new(session),
                held: Mutex::new(Vec::new()),
            }) as Box<dyn Transport>)
        }
        .boxed()
    }
}

impl Transport for SshTransport {
    fn run<'a>(
        &'a self,
        command: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<CommandOutput, TransportError>> {
        async move {
            let work = self.exec(command);
            tokio::time::timeout(command.timeout, work)
                .await
                .map_err(|_| command.timed_out(&self.host))?
        }
        .boxed()
    }

    fn hold<'a>(
        &'a self,
        command: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<String, TransportError>> {
        async move {
            let (program, args) = command.program(&self.host)?;
            let mut child = Arc::clone(&self.session)
                .arc_command(program)
                .args(args.iter().map(String::as_str))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .await
                .map_err(|e| self.lost_or(e, command))?;
            let mut first = String::new();
            if let Some(stdout) = child.stdout().take() {
                let mut reader = BufReader::new(stdout);
                tokio::time::timeout(command.timeout, reader.read_line(&mut first))
                    .await
                    .map_err(|_| command.timed_out(&self.host))?
                    .map_err(|e| command.failed(&self.host, e.to_string()))?;
            }
            self.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(child);
            Ok(first.trim().to_owned())
        }
        .boxed()
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), TransportError>> {
        let SshTransport {
            host,
            session,
            held,
        } = *self;
        async move {
            // Ending the held commands' input lets them finish (and release the lock).
            let held: Vec<_> = held.into_inner().unwrap_or_else(|e| e.into_inner());
            for mut child in held {
                drop(child.stdin().take());
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            }
            let session = Arc::try_unwrap(session).map_err(|_| TransportError::Disconnected {
                host: host.clone(),
                detail: "the connection is still in use".to_owned(),
            })?;
            session
                .close()
                .await
                .map_err(|e| TransportError::Disconnected {
                    host,
                    detail: e.to_string(),
                })
        }
        .boxed()
    }
}

impl SshTransport {
    async fn exec(&self, command: &RemoteCommand) -> Result<CommandOutput, TransportError> {
        let (program, args) = command.program(&self.host)?;
        let mut child = self
            .session
            .command(program)
            .args(args.iter().map(String::as_str))
            .stdin(if command.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(|e| self.lost_or(e, command))?;
        let stdin = child.stdin().take();
        let mut stdout_pipe = child.stdout().take();
        let mut stderr_pipe = child.stderr().take();
        let feed = async {
            if let (Some(bytes), Some(mut stdin)) = (&command.stdin, stdin) {
                // A command that exits without reading its input is not an error.
                let _ = stdin.write_all(bytes).await;
                let _ = stdin.shutdown().await;
            }
        };
        let read_out = async {
            let mut buf = Vec::new();
            if let Some(pipe) = stdout_pipe.as_mut() {
                let _ = pipe.read_to_end(&mut buf).await;
            }
            buf
        };
        let read_err = async {
            let mut buf = Vec::new();
            if let Some(pipe) = stderr_pipe.as_mut() {
                let _ = pipe.read_to_end(&mut buf).await;
            }
            buf
        };
        let ((), stdout, stderr) = tokio::join!(feed, read_out, read_err);
        let status = child.wait().await.map_err(|e| self.lost_or(e, command))?;
        Ok(CommandOutput {
            status: status.code(),
            stdout,
            stderr,
        })
    }

    /// openssh cannot tell a dropped connection from a killed remote
    /// process; ask the master which one it was.
    fn lost_or(&self, error: openssh::Error, command: &RemoteCommand) -> TransportError {
        match error {
            openssh::Error::Disconnected | openssh::Error::RemoteProcessTerminated => {
                TransportError::Disconnected {
                    host: self.host.clone(),
                    detail: error.to_string(),
                }
            }
            e => command.failed(&self.host, chain(&e)),
        }
    }
}

/// Sorts an OpenSSH connection failure into what the user must fix.
fn classify(host: &str, address: &str, error: openssh::Error) -> TransportError {
    use std::error::Error as _;
    let detail = match error.source() {
        Some(cause) => chain(cause),
        None => error.to_string(),
    };
    let host = host.to_owned();
    let address = address.to_owned();
    if detail.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || detail.contains("Host key for") && detail.contains("has changed")
    {
        TransportError::ChangedHostKey { host, address }
    } else if detail.contains("Host key verification failed")
        || detail.contains("host key is known")
    {
        TransportError::UnknownHostKey { host, address }
    } else if detail.contains("Permission denied")
        || detail.contains("Too many authentication failures")
    {
        TransportError::Auth {
            host,
            detail: last_line(&detail),
        }
    } else {
        TransportError::Unreachable {
            host,
            detail: last_line(&detail),
        }
    }
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn last_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(text)
        .trim_end_matches('.')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_error(stderr: &str) -> openssh::Error {
        openssh::Error::Connect(std::io::Error::other(stderr.to_owned()))
    }

    #[test]
    fn classifies_ssh_failures() {
        let changed = "@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\nHost key verification failed.";
        assert!(matches!(
            classify("s", "a", connect_error(changed)),
            TransportError::ChangedHostKey { .. }
        ));
        let unknown = "No ED25519 host key is known for 198.18.0.11 and you have requested strict checking.\r\nHost key verification failed.";
        assert!(matches!(
            classify("s", "a", connect_error(unknown)),
            TransportError::UnknownHostKey { .. }
        ));
        let denied = "nvidia@198.18.0.11: Permission denied (publickey).";
        let auth = classify("spark-1", "a", connect_error(denied));
        insta::assert_snapshot!(auth.to_string(), @"ssh authentication to spark-1 failed: nvidia@198.18.0.11: Permission denied (publickey) (check ansible_user and ansible_ssh_private_key_file, or add your key to the node's ~/.ssh/authorized_keys)");
        let refused = "connect to host 198.18.0.12 port 22: Connection refused";
        let down = classify("spark-2", "a", connect_error(refused));
        insta::assert_snapshot!(down.to_string(), @"spark-2 is unreachable: connect to host 198.18.0.12 port 22: Connection refused (check that it is on and that ansible_host/ansible_port point at it)");
    }
}
