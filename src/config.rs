//! From the command line to a validated run: the inventory and playbook are
//! loaded and checked, every play's hosts resolved, `-e` parsed, before any
//! connection is opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::RunOptions;
use crate::executor::Settings;
use crate::inventory::{Inventory, InventoryError, Limit};
use crate::playbook::{Playbook, PlaybookError};
use crate::report::Format;
use crate::vars::Vars;

/// The command line was valid clap but not a valid run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Inventory(Box<InventoryError>),
    #[error(transparent)]
    Playbook(Box<PlaybookError>),
    #[error("bad -e `{arg}`: {reason} (write KEY=VALUE, or a JSON object)")]
    ExtraVar { arg: String, reason: String },
    #[error("play '{play}' in {file}: {cause}")]
    PlayHosts {
        play: String,
        file: String,
        /// Shown in the message, not as a separate cause.
        cause: Box<InventoryError>,
    },
    #[error(
        "--limit `{limit}` leaves no host for any play of {file} (hosts of the plays: {hosts})"
    )]
    LimitMatchesNothing {
        limit: String,
        file: String,
        hosts: String,
    },
}

impl From<InventoryError> for ConfigError {
    fn from(e: InventoryError) -> Self {
        ConfigError::Inventory(Box::new(e))
    }
}

impl From<PlaybookError> for ConfigError {
    fn from(e: PlaybookError) -> Self {
        ConfigError::Playbook(Box::new(e))
    }
}

/// Where the playbook comes from.
pub enum Source<'a> {
    /// A file on disk (`sparklink run FILE`).
    File(&'a Path),
    /// A playbook built into the binary: name for messages, and text.
    Embedded { name: &'a str, text: &'a str },
}

/// A run, ready to execute.
pub struct RunConfig {
    pub inventory: Inventory,
    pub playbook: Playbook,
    /// The hosts each play runs on, in play order.
    pub play_hosts: Vec<Vec<String>>,
    pub settings: Settings,
    /// Folders searched for `template:` sources before the built-in ones.
    pub template_dirs: Vec<PathBuf>,
    pub format: Format,
    pub verbose: bool,
    pub ask_become_pass: bool,
    pub connect_timeout: Duration,
}

impl RunConfig {
    pub fn new(
        options: &RunOptions,
        source: Source<'_>,
        known_modules: &[&str],
    ) -> Result<RunConfig, ConfigError> {
        let inventory = Inventory::load(&options.inventory)?;
        let playbook = match source {
            Source::File(path) => Playbook::load(path, known_modules)?,
            Source::Embedded { name, text } => {
                Playbook::parse(Path::new(name), text, known_modules)?
            }
        };
        let limit = options.limit.as_deref().map(Limit::parse).transpose()?;
        let mut play_hosts = Vec::new();
        for play in &playbook.plays {
            let selected =
                inventory
                    .select(&play.hosts)
                    .map_err(|source| ConfigError::PlayHosts {
                        play: play.name.clone(),
                        file: playbook.path.display().to_string(),
                        cause: Box::new(source),
                    })?;
            let selected = match &limit {
                Some(limit) => limit.apply(&inventory, selected)?,
                None => selected,
            };
            play_hosts.push(selected.iter().map(|h| h.name.clone()).collect::<Vec<_>>());
        }
        if let Some(limit) = &options.limit {
            if !play_hosts.is_empty() && play_hosts.iter().all(Vec::is_empty) {
                return Err(ConfigError::LimitMatchesNothing {
                    limit: limit.clone(),
                    file: playbook.path.display().to_string(),
                    hosts: playbook
                        .plays
                        .iter()
                        .map(|p| p.hosts.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
        }
        let base_dir = playbook
            .path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let template_dirs = match source {
            Source::File(_) => vec![base_dir.join("templates"), base_dir.join("../templates")],
            Source::Embedded { .. } => vec![PathBuf::from("templates")],
        };
        let settings = Settings {
            check: options.check,
            diff: options.diff,
            forks: usize::from(options.forks),
            tags: options.tags.clone(),
            skip_tags: options.skip_tags.clone(),
            extra_vars: parse_extra_vars(&options.extra_vars)?,
            become_password: None,
            command_timeout: Duration::from_secs(options.command_timeout.max(1)),
            base_dir,
        };
        Ok(RunConfig {
            inventory,
            playbook,
            play_hosts,
            settings,
            template_dirs,
            format: if options.json {
                Format::Json
            } else {
                Format::Human
            },
            verbose: options.verbose,
            ask_become_pass: options.ask_become_pass,
            connect_timeout: Duration::from_secs(options.connect_timeout.max(1)),
        })
    }
}

/// `-e KEY=VALUE` (the value stays a string, as in Ansible) or `-e '{"k": 1}'`.
pub fn parse_extra_vars(args: &[String]) -> Result<Vars, ConfigError> {
    let mut vars = Vars::new();
    for arg in args {
        let bad = |reason: &str| ConfigError::ExtraVar {
            arg: arg.clone(),
            reason: reason.to_owned(),
        };
        let trimmed = arg.trim_start();
        if trimmed.starts_with('{') {
            let parsed: serde_json::Value =
                serde_json::from_str(trimmed).map_err(|e| bad(&e.to_string()))?;
            if let serde_json::Value::Object(map) = parsed {
                crate::vars::overlay(&mut vars, &map);
            }
            continue;
        }
        let (key, value) = arg.split_once('=').ok_or_else(|| bad("no `=`"))?;
        let key = key.trim();
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(bad(
                "the name must be letters, digits and _, not starting with a digit",
            ));
        }
        vars.insert(key.to_owned(), value.into());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_vars_forms() {
        let vars = parse_extra_vars(&["qsfp_mtu=9000".into(), r#"{"qsfp_persist": false}"#.into()])
            .unwrap();
        assert_eq!(vars["qsfp_mtu"], "9000");
        assert_eq!(vars["qsfp_persist"], false);
    }

    #[test]
    fn extra_var_errors() {
        let e = parse_extra_vars(&["novalue".into()]).unwrap_err();
        insta::assert_snapshot!(e.to_string(), @"bad -e `novalue`: no `=` (write KEY=VALUE, or a JSON object)");
        let e = parse_extra_vars(&["1x=2".into()]).unwrap_err();
        insta::assert_snapshot!(e.to_string(), @"bad -e `1x=2`: the name must be letters, digits and _, not starting with a digit (write KEY=VALUE, or a JSON object)");
    }
}
