//! Transport: how a command reaches a host and its output comes back.
//!
//! One [`Transport`] per host, opened once and multiplexed for every command
//! of the run. [`ssh`] is the backend: one OpenSSH master connection per
//! host, commands over its mux socket.

pub mod ssh;

use std::time::Duration;

use futures::future::BoxFuture;

use crate::inventory::Connection;

/// A command to run on a host: an argv (quoted by the transport, never
/// interpreted by a shell unless argv says `sh -c`) and optional stdin.
#[derive(Clone)]
pub struct RemoteCommand {
    pub argv: Vec<String>,
    /// Bytes fed to the command's stdin. May hold a sudo password: never
    /// logged, never shown (see the `Debug` impl).
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl RemoteCommand {
    /// The program and its arguments; an empty argv is an error.
    pub fn program(&self, host: &str) -> Result<(&str, &[String]), TransportError> {
        self.argv
            .split_first()
            .map(|(program, args)| (program.as_str(), args))
            .ok_or_else(|| self.failed(host, "empty command".to_owned()))
    }

    /// This command could not be run on `host`.
    pub fn failed(&self, host: &str, detail: String) -> TransportError {
        TransportError::Exec {
            host: host.to_owned(),
            command: describe(&self.argv),
            detail,
        }
    }

    /// This command outlived its timeout on `host`.
    pub fn timed_out(&self, host: &str) -> TransportError {
        TransportError::Timeout {
            host: host.to_owned(),
            command: describe(&self.argv),
            seconds: self.timeout.as_secs(),
        }
    }
}

impl std::fmt::Debug for RemoteCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCommand")
            .field("argv", &self.argv)
            .field(
                "stdin",
                &self.stdin.as_ref().map(|s| format!("<{} bytes>", s.len())),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What a finished command left behind.
#[derive(Clone, Debug, Default)]
pub struct CommandOutput {
    /// Exit code; `None` when the command was killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Why a host could not be reached or a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{host} is unreachable: {detail} (check that it is on and that ansible_host/ansible_port point at it)")]
    Unreachable { host: String, detail: String },
    #[error("ssh authentication to {host} failed: {detail} (check ansible_user and ansible_ssh_private_key_file, or add your key to the node's ~/.ssh/authorized_keys)")]
    Auth { host: String, detail: String },
    #[error("the host key of {host} is not known (check its fingerprint, then trust it with `ssh {address}` once, or add it to known_hosts)")]
    UnknownHostKey { host: String, address: String },
    #[error("the host key of {host} has changed since it was trusted (a re-imaged Spark, or someone in the middle): verify it, then remove the old one with `ssh-keygen -R {address}`")]
    ChangedHostKey { host: String, address: String },
    #[error("lost the connection to {host}: {detail}")]
    Disconnected { host: String, detail: String },
    #[error("command `{command}` timed out after {seconds}s on {host} (raise --command-timeout if the node is just slow)")]
    Timeout {
        host: String,
        command: String,
        seconds: u64,
    },
    #[error("failed to run `{command}` on {host}: {detail}")]
    Exec {
        host: String,
        command: String,
        detail: String,
    },
}

impl TransportError {
    /// Whether the host is to be reported unreachable (as opposed to a
    /// command failing on a host that is still there).
    pub fn is_unreachable(&self) -> bool {
        !matches!(
            self,
            TransportError::Timeout { .. } | TransportError::Exec { .. }
        )
    }
}

/// An open connection to one host.
pub trait Transport: Send + Sync {
    /// Runs one command and collects its output.
    fn run<'a>(
        &'a self,
        command: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<CommandOutput, TransportError>>;
    /// Starts `command` and keeps it running, stdin open, until the
    /// transport is closed or dropped (or sparklink dies: its end of stdin
    /// closes, and the remote command sees end of input). Returns the
    /// command's first line of output. Used to hold the node's run lock.
    fn hold<'a>(
        &'a self,
        command: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<String, TransportError>>;
    /// Closes the connection, reporting errors that dropping would swallow.
    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), TransportError>>;
}

/// Opens transports; one per host of the inventory.
pub trait Connector: Send + Sync {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        connection: &'a Connection,
    ) -> BoxFuture<'a, Result<Box<dyn Transport>, TransportError>>;
}

/// The first words of a command, for messages (never its stdin).
pub fn describe(argv: &[String]) -> String {
    let mut text = argv.join(" ");
    if text.len() > 60 {
        let cut = (0..=60)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}
