//! A transport that runs commands on this machine, for engine tests.

use std::process::Stdio;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::AsyncWriteExt;

use super::{
    describe, CommandOutput, Connection, Connector, RemoteCommand, Transport, TransportError,
};

/// Runs every command locally as the current user.
pub struct LocalTransport {
    host: String,
    /// Commands kept running until the transport is dropped.
    held: std::sync::Mutex<Vec<tokio::process::Child>>,
}

impl Transport for LocalTransport {
    fn run<'a>(
        &'a self,
        command: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<CommandOutput, TransportError>> {
        async move {
            let exec_error = |detail: String| TransportError::Exec {
                host: self.host.clone(),
                command: describe(&command.argv),
                detail,
            };
            let (program, args) = command
                .argv
                .split_first()
                .ok_or_else(|| exec_error("empty command".to_owned()))?;
            let mut child = tokio::process::Command::new(program)
                .args(args)
                .stdin(if command.stdin.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| exec_error(e.to_string()))?;
            let stdin = child.stdin.take();
            let feed = async {
                if let (Some(bytes), Some(mut stdin)) = (&command.stdin, stdin) {
                    // A command that exits without reading its input is not an error.
                    let _ = stdin.write_all(bytes).await;
                }
            };
            let wait = async { tokio::join!(feed, child.wait_with_output()).1 };
            let output = tokio::time::timeout(command.timeout, wait)
                .await
                .map_err(|_| TransportError::Timeout {
                    host: self.host.clone(),
                    command: describe(&command.argv),
                    seconds: command.timeout.as_secs(),
                })?
                .map_err(|e| exec_error(e.to_string()))?;
            Ok(CommandOutput {
                status: output.status.code(),
                stdout: output.stdout,
                stderr: output.stderr,
            })
        }
        .boxed()
    }

    fn hold<'a>(
        &'a self,
        command: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<String, TransportError>> {
        async move {
            let exec_error = |detail: String| TransportError::Exec {
                host: self.host.clone(),
                command: describe(&command.argv),
                detail,
            };
            let (program, args) = command
                .argv
                .split_first()
                .ok_or_else(|| exec_error("empty command".to_owned()))?;
            let mut child = tokio::process::Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| exec_error(e.to_string()))?;
            let mut first = String::new();
            if let Some(stdout) = child.stdout.take() {
                let mut reader = tokio::io::BufReader::new(stdout);
                let _ = tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut first).await;
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
        async { Ok(()) }.boxed()
    }
}

/// Connects every host to this machine.
pub struct LocalConnector;

impl Connector for LocalConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        _connection: &'a Connection,
    ) -> BoxFuture<'a, Result<Box<dyn Transport>, TransportError>> {
        async move {
            Ok(Box::new(LocalTransport {
                host: host.to_owned(),
                held: std::sync::Mutex::new(Vec::new()),
            }) as Box<dyn Transport>)
        }
        .boxed()
    }
}
