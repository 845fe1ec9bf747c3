//! sparklink: wire NVIDIA DGX Spark machines into a cluster over their QSFP
//! link, from a laptop, as an Ansible-style orchestrator.
//!
//! # Layout
//! - [`cli`]: the command line (clap), and [`config`]: its validation into a
//!   [`config::RunConfig`] before any I/O.
//! - [`inventory`]: Ansible YAML inventories, `--limit` patterns;
//!   [`playbook`]: plays and tasks; [`vars`]: variable precedence;
//!   [`template`]: the minijinja environment.
//! - [`executor`]: runs tasks over hosts in parallel and emits [`event`]s;
//!   [`modules`]: what a task can do; [`sudo`]: `become`;
//!   [`transport`]: OpenSSH connections.
//! - [`report`]: the only writer to the terminal: live lines, recap, JSON.
//! - [`exit`]: the exit codes.

pub mod assets;
pub mod cli;
pub mod config;
pub mod event;
pub mod executor;
pub mod exit;
pub mod inventory;
pub mod modules;
pub mod playbook;
pub mod report;
pub mod sudo;
pub mod template;
pub mod transport;
pub mod vars;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::{RunConfig, Source};
use crate::event::EventSink;
use crate::executor::{Executor, PlannedPlay, Pool};
use crate::report::Reporter;
use crate::sudo::Secret;
use crate::template::Templates;
use crate::transport::ssh::{SshConnector, SshOptions};

/// Runs sparklink with these arguments (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let (options, source) = match &cli.command {
        Command::Run { playbook, options } => (options.clone(), Source::File(playbook)),
        Command::Up(options) => (options.clone(), assets::CONNECT.source()),
        Command::Down(options) => (options.clone(), assets::DISCONNECT.source()),
        Command::Verify { bandwidth, options } => {
            let mut options = options.clone();
            if *bandwidth {
                // Below any -e the user gave: theirs are read later and win.
                options
                    .extra_vars
                    .insert(0, "verify_bandwidth=true".to_owned());
            }
            (options, assets::VERIFY.source())
        }
        Command::Env { options, .. } => (options.clone(), assets::ENV.source()),
    };
    let mut config = match RunConfig::new(&options, source, modules::NAMES) {
        Ok(config) => config,
        Err(e) => {
            report::print_error(&e);
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    if let Command::Env { shell: true, .. } = cli.command {
        config.format = report::Format::Shell;
    }
    config.settings.become_password = match become_password(config.ask_become_pass) {
        Ok(password) => password,
        Err(e) => {
            report::print_error(&e);
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    ExitCode::from(execute(&config))
}

/// Reads the sudo password from the prompt (-K) or SPARKLINK_BECOME_PASSWORD.
fn become_password(ask: bool) -> std::io::Result<Option<Secret>> {
    if ask {
        return rpassword::prompt_password("sudo password: ").map(|p| Some(Secret::new(p)));
    }
    Ok(std::env::var("SPARKLINK_BECOME_PASSWORD")
        .ok()
        .map(Secret::new))
}

/// Runs the plays; returns the exit code.
fn execute(config: &RunConfig) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            report::print_error(&e);
            return exit::INTERNAL;
        }
    };
    let reporter = Reporter::new(
        config.format,
        config.verbose,
        &config.playbook.path.display().to_string(),
    );
    let templates = Templates::new(config.template_dirs.clone(), assets::TEMPLATES);
    let connector = SshConnector {
        options: SshOptions {
            connect_timeout: config.connect_timeout,
            strict_host_keys: true,
        },
    };
    let pool = Pool::default();
    let plays: Vec<PlannedPlay<'_>> = config
        .playbook
        .plays
        .iter()
        .zip(&config.play_hosts)
        .map(|(play, hosts)| PlannedPlay {
            play,
            hosts: hosts.clone(),
        })
        .collect();
    let interrupted = runtime.block_on(async {
        let mut executor = Executor::new(
            &config.settings,
            &config.inventory,
            &connector,
            &reporter,
            &templates,
            &pool,
        );
        let interrupted = tokio::select! {
            () = executor.run(&plays) => false,
            () = shutdown_signal() => true,
        };
        drop(executor);
        for error in pool.close_all().await {
            reporter.emit(event::Event::Warning {
                host: None,
                message: error.to_string(),
            });
        }
        interrupted
    });
    reporter.finish(interrupted);
    let recap = reporter.recap();
    if interrupted {
        exit::INTERRUPTED
    } else if recap.any_failed() {
        exit::HOSTS_FAILED
    } else if recap.any_unreachable() {
        exit::HOSTS_UNREACHABLE
    } else {
        exit::SUCCESS
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
