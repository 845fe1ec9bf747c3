//! Modules: what a task can do on a host. Each takes its (already rendered)
//! arguments, runs what it needs through the host's [`Remote`], honours check
//! and diff mode, and says whether it changed anything.

mod assert;
mod bandwidth;
mod blockinfile;
mod cluster_env;
mod command;
mod copy;
mod facts;
mod file;
mod ip_address;
mod link_check;
mod netplan;
mod qsfp_facts;
mod qsfp_plan;
mod set_fact;
mod ssh_key;
mod summary;

use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::inventory::Connection;
use crate::sudo::Remote;
use crate::template::{TemplateError, Templates};
use crate::transport::{Connector, TransportError};
use crate::vars::Vars;

/// Every module a task may name.
pub const NAMES: &[&str] = &[
    "assert",
    "bandwidth",
    "blockinfile",
    "cluster_env",
    "command",
    "copy",
    "facts",
    "file",
    "ip_address",
    "link_check",
    "netplan",
    "qsfp_facts",
    "qsfp_plan",
    "set_fact",
    "shell",
    "ssh_key",
    "summary",
    "template",
];

/// What a module gets to work with.
pub struct Context<'a> {
    pub remote: &'a Remote,
    /// Run the module's commands through sudo.
    pub as_root: bool,
    /// Report what would change; change nothing.
    pub check: bool,
    /// Return a diff of what changes.
    pub diff: bool,
    pub templates: &'a Templates,
    /// The host's variables, for modules that render or evaluate.
    pub vars: &'a Vars,
    /// Folder of the playbook, for `src:` paths.
    pub base_dir: PathBuf,
    /// To open a second, independent connection to the host (to prove a
    /// network change left it reachable).
    pub connector: &'a dyn Connector,
    pub connection: Connection,
    /// The login user, for sudo's messages.
    pub user: String,
}

impl Context<'_> {
    /// A new connection to the same host, with sudo checked on it.
    pub async fn reconnect(&self) -> Result<Remote, String> {
        let transport = self
            .connector
            .connect(self.remote.host(), &self.connection)
            .await
            .map_err(|e| e.to_string())?;
        let fresh = self.remote.reopen(transport);
        if let Err(e) = fresh.prepare_become(&self.user).await {
            let _ = fresh.close().await;
            return Err(e.to_string());
        }
        Ok(fresh)
    }
}

/// What a module reads of the play: this host, the play's hosts
/// (`ansible_play_hosts_all`, in inventory order) and each host's `qsfp`
/// fact (set by `qsfp_facts`).
struct Play<'a> {
    me: String,
    hosts: Vec<String>,
    hostvars: Option<&'a Vars>,
}

impl<'a> Play<'a> {
    fn new(vars: &'a Vars) -> Self {
        let me = vars
            .get("inventory_hostname")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let hosts = vars
            .get("ansible_play_hosts_all")
            .and_then(serde_json::Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let hostvars = vars.get("hostvars").and_then(serde_json::Value::as_object);
        Self {
            me,
            hosts,
            hostvars,
        }
    }

    /// `host`'s `qsfp` fact, when `qsfp_facts` ran there.
    fn qsfp(&self, host: &str) -> Option<qsfp_facts::Facts> {
        self.hostvars
            .and_then(|h| h.get(host))
            .and_then(|h| h.get("qsfp"))
            .and_then(|q| serde_json::from_value(q.clone()).ok())
    }

    /// This host's `qsfp` fact, or the error that says to gather it.
    fn my_qsfp(&self) -> Result<qsfp_facts::Facts, ModuleError> {
        self.qsfp(&self.me).ok_or_else(|| {
            ModuleError::Failed(format!(
                "{} has no `qsfp` fact: run `qsfp_facts` first",
                self.me
            ))
        })
    }
}

/// What a module did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: String,
    pub diff: Option<String>,
    /// Data stored by `register` (besides changed/failed/msg).
    pub data: Vars,
    /// Facts to set on the host.
    pub facts: Vars,
    /// Things the user should know that do not fail the task.
    pub warnings: Vec<String>,
}

/// A module could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("bad arguments for `{module}`: {detail}")]
    Args { module: String, detail: String },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Failed(String),
}

/// Runs module `name` with `args`.
pub async fn run(
    name: &str,
    args: &serde_json::Value,
    ctx: &Context<'_>,
) -> Result<Outcome, ModuleError> {
    match name {
        "assert" => assert::run(parse(name, args)?, ctx),
        "bandwidth" => bandwidth::run(parse(name, args)?, ctx).await,
        "blockinfile" => blockinfile::run(parse(name, args)?, ctx).await,
        "cluster_env" => cluster_env::run(ctx).await,
        "command" => command::run(command::Args::from_value(name, args, false)?, ctx).await,
        "shell" => command::run(command::Args::from_value(name, args, true)?, ctx).await,
        "copy" => copy::run_copy(parse(name, args)?, ctx).await,
        "template" => copy::run_template(parse(name, args)?, ctx).await,
        "file" => file::run(parse(name, args)?, ctx).await,
        "facts" => facts::run(ctx).await,
        "netplan" => netplan::run(parse(name, args)?, ctx).await,
        "qsfp_facts" => qsfp_facts::run(ctx).await,
        "qsfp_plan" => qsfp_plan::run(ctx),
        "set_fact" => set_fact::run(name, args),
        "ssh_key" => ssh_key::run(parse(name, args)?, ctx).await,
        "summary" => summary::run(parse(name, args)?),
        "ip_address" => ip_address::run(parse(name, args)?, ctx).await,
        "link_check" => link_check::run(ctx).await,
        other => Err(ModuleError::Args {
            module: other.to_owned(),
            detail: format!("no such module (known: {})", NAMES.join(", ")),
        }),
    }
}

/// Deserialises a module's map of arguments, naming the bad key.
fn parse<T: DeserializeOwned>(module: &str, args: &serde_json::Value) -> Result<T, ModuleError> {
    let value = if args.is_null() {
        serde_json::Value::Object(Vars::new())
    } else {
        args.clone()
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let detail = if path == "." || e.inner().to_string().starts_with("unknown field") {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        };
        ModuleError::Args {
            module: module.to_owned(),
            detail,
        }
    })
}

/// A file mode given as `"0600"`, `"600"` or a YAML integer written in octal
/// digits (`600`); returned as the octal digits `stat -c %a` prints.
fn parse_mode(module: &str, value: &serde_json::Value) -> Result<String, ModuleError> {
    let digits = match value {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let bad = || ModuleError::Args {
        module: module.to_owned(),
        detail: format!("mode {value} is not an octal mode like \"0644\""),
    };
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(bad());
    }
    let bits = u32::from_str_radix(&digits, 8).map_err(|_| bad())?;
    if bits > 0o7777 {
        return Err(bad());
    }
    Ok(format!("{bits:o}"))
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The common fields a command's result registers.
fn command_data(out: &crate::transport::CommandOutput) -> Vars {
    let stdout = out.stdout_text();
    let stderr = out.stderr_text();
    let mut data = Vars::new();
    data.insert(
        "rc".into(),
        out.status.map_or(serde_json::Value::Null, Into::into),
    );
    data.insert(
        "stdout_lines".into(),
        stdout
            .lines()
            .map(|l| serde_json::Value::from(l.to_owned()))
            .collect(),
    );
    data.insert("stdout".into(), stdout.trim_end_matches('\n').into());
    data.insert("stderr".into(), stderr.trim_end_matches('\n').into());
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_read_as_octal() {
        assert_eq!(
            parse_mode("copy", &serde_json::json!("0600")).unwrap(),
            "600"
        );
        assert_eq!(parse_mode("copy", &serde_json::json!(644)).unwrap(), "644");
        assert_eq!(
            parse_mode("copy", &serde_json::json!("0755")).unwrap(),
            "755"
        );
        let err = parse_mode("copy", &serde_json::json!("rw")).unwrap_err();
        insta::assert_snapshot!(err.to_string(), @r#"bad arguments for `copy`: mode "rw" is not an octal mode like "0644""#);
        assert!(parse_mode("copy", &serde_json::json!(999)).is_err());
    }
}
