//! The inventory: Ansible's YAML inventory format (the same file works with
//! `ansible -i`), read into hosts, groups and each host's merged variables,
//! plus host patterns (`hosts:`, `--limit`) over it.
//!
//! Owns: reading inventory files and folders, `group_vars/` and `host_vars/`,
//! group nesting, variable precedence between groups and hosts, the
//! connection variables (`ansible_host`, `ansible_port`, ...) and their
//! validation, and host patterns ([`Inventory::select`], [`Limit`]).
//!
//! Variable precedence, lowest first, as Ansible's defaults have it:
//! inline `vars:` of `all`; inline `vars:` of the host's other groups;
//! `group_vars/all`; `group_vars/` files of the other groups; the host's
//! inline vars; `host_vars/` files; the magic variables. "The other groups"
//! are ordered by depth (parents before children), then
//! `ansible_group_priority` (default 1), then name, and later wins.

#![expect(
    clippy::result_large_err,
    reason = "errors carry the file, position and key path for the message; they are built once, on the way out"
)]

mod build;
mod pattern;
pub(crate) mod yaml;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use self::build::{folder_of, read, yaml_files_in, Builder};
pub use self::pattern::Limit;
use self::pattern::Pattern;
pub use self::yaml::Place;
use self::yaml::SyntaxError;
use crate::vars::Vars;

/// Keys a group body may have.
const GROUP_KEYS: [&str; 3] = ["hosts", "vars", "children"];

/// Everything that can go wrong reading an inventory or matching a pattern.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    #[error(
        "inventory not found: {} (pass -i PATH, or create inventory/ in the working directory)",
        path.display()
    )]
    NotFound { path: PathBuf },
    #[error("failed to read inventory file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed YAML in {at}: {message}; {fix}")]
    Yaml {
        at: Place,
        message: String,
        fix: String,
    },
    #[error("inventory {at} is {found}; its top level must be a map of group names, e.g. `all:` with `hosts:` under it")]
    TopNotMap { at: Place, found: String },
    #[error("group `{group}` in {at} is {found}; a group must be a map with `hosts:`, `vars:` or `children:` (or nothing)")]
    GroupNotMap {
        group: String,
        at: Place,
        found: String,
    },
    #[error("unknown key `{key}` in group `{group}` at {at}; valid keys: `hosts`, `vars`, `children`{hint}")]
    UnknownGroupKey {
        key: String,
        group: String,
        at: Place,
        hint: String,
    },
    #[error("`hosts` of group `{group}` in {at} is {found}; write a map with one host name per line, each followed by `:` and its vars (or nothing), e.g. `spark-1:`")]
    HostsNotMap {
        group: String,
        at: Place,
        found: String,
    },
    #[error(
        "vars of host `{host}` in {at} are {found}; give the host a map of variables, or nothing"
    )]
    HostVarsNotMap {
        host: String,
        at: Place,
        found: String,
    },
    #[error(
        "`vars` of group `{group}` in {at} is {found}; write a map of variable names to values"
    )]
    GroupVarsNotMap {
        group: String,
        at: Place,
        found: String,
    },
    #[error("`children` of group `{group}` in {at} is {found}; write a map of child group names, each followed by `:` and its body (or nothing)")]
    ChildrenNotMap {
        group: String,
        at: Place,
        found: String,
    },
    #[error("invalid host range `{name}` in {at}: {reason}; write ranges like `spark-[1:4]`, `node-[01:10]` or `[a:c]`")]
    BadHostRange {
        name: String,
        at: Place,
        reason: String,
    },
    #[error("group cycle in {at}: {chain}; a group cannot contain itself, remove one of these `children` entries")]
    Cycle { chain: String, at: Place },
    #[error("no inventory files in {}: add a .yml or .yaml file there, or pass -i FILE", dir.display())]
    NoYamlFiles { dir: PathBuf },
    #[error("vars file {at} is {found}; it must be a map of variable names to values")]
    VarsFileNotMap { at: Place, found: String },
    #[error("vars file {} is encrypted with ansible-vault, which sparklink cannot read; decrypt it with `ansible-vault decrypt` or keep secrets elsewhere", path.display())]
    VaultFile { path: PathBuf },
    #[error("inventory {} defines no hosts; add some under a group, e.g. `all:` > `hosts:` > `spark-1:`", path.display())]
    Empty { path: PathBuf },
    #[error("invalid `{var}` for {owner}: {found}, set in {at}; {expected}")]
    BadVar {
        var: String,
        owner: String,
        found: String,
        at: Place,
        expected: String,
    },
    #[error(
        "host pattern `{name}` matches no group or host; groups: {groups}; hosts: {hosts}{hint}"
    )]
    NoMatch {
        name: String,
        groups: String,
        hosts: String,
        hint: String,
    },
    #[error("invalid host pattern {}: {reason}", shown_pattern(pattern))]
    BadPattern { pattern: String, reason: String },
}

/// A pattern in backticks, or "(empty)".
fn shown_pattern(pattern: &str) -> String {
    if pattern.trim().is_empty() {
        "(empty)".to_string()
    } else {
        format!("`{pattern}`")
    }
}

impl InventoryError {
    fn yaml(err: SyntaxError) -> InventoryError {
        InventoryError::Yaml {
            at: err.place,
            message: err.message,
            fix: err.fix.to_string(),
        }
    }
}

/// A parsed inventory: hosts in file order, groups, and their members.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The path given to [`Inventory::load`] (or the origin of
    /// [`Inventory::parse`]).
    source: PathBuf,
    hosts: Vec<Host>,
    /// `all` first, then groups in the order they were first named,
    /// `ungrouped` where it was named or last.
    groups: Vec<Group>,
    host_index: HashMap<String, usize>,
    group_index: HashMap<String, usize>,
    /// Every host of each group, with its descendants' hosts, as indexes
    /// into `hosts` in inventory order. Parallel to `groups`.
    members: Vec<Vec<usize>>,
}

/// One host.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    /// Fully merged variables (see the module doc for precedence), with the
    /// magic variables `inventory_hostname`, `inventory_hostname_short`,
    /// `group_names`, `inventory_file` and `inventory_dir`.
    pub vars: Vars,
    /// Every group the host is in, ancestors and `all` included, in
    /// precedence order (`all` first, deeper groups later).
    pub groups: Vec<String>,
}

/// One group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    /// The group's own variables: inline `vars:` overlaid by its
    /// `group_vars/` files. Hosts see them merged in [`Host::vars`].
    pub vars: Vars,
    /// Hosts listed directly in this group (not its children's), in file
    /// order. `ungrouped` lists the hosts that are in no other group.
    pub hosts: Vec<String>,
    /// Direct child groups. `all` has every group without another parent.
    pub children: Vec<String>,
}

/// How to reach a host, from its connection variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// `ansible_host`, or the host name.
    pub address: String,
    /// `ansible_port`.
    pub port: Option<u16>,
    /// `ansible_user`.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`: relative paths are resolved against
    /// the folder of the inventory file that defined the host, `~/` against
    /// `$HOME`.
    pub key_file: Option<PathBuf>,
    /// `sparklink_ssh_config`, resolved like `key_file`.
    pub ssh_config: Option<PathBuf>,
}

impl Host {
    /// The connection settings. Inventories from [`Inventory::load`] were
    /// validated, so every variable here has the right type; on a host built
    /// by hand, a variable of the wrong type is ignored.
    pub fn connection(&self) -> Connection {
        let text = |key: &str| self.vars.get(key).and_then(Json::as_str);
        let base = text("inventory_dir").map(Path::new);
        Connection {
            address: text("ansible_host").unwrap_or(&self.name).to_string(),
            port: self.vars.get("ansible_port").and_then(port_number),
            user: text("ansible_user").map(str::to_string),
            key_file: text("ansible_ssh_private_key_file").map(|p| resolve_path(p, base)),
            ssh_config: text("sparklink_ssh_config").map(|p| resolve_path(p, base)),
        }
    }
}

/// `~` and `~/x` against `$HOME`, relative paths against `base`.
fn resolve_path(path: &str, base: Option<&Path>) -> PathBuf {
    if path == "~" || path.starts_with("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(path.trim_start_matches('~').trim_start_matches('/'));
        }
    }
    let path = PathBuf::from(path);
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    }
}

/// A port number: an integer (or a string of digits, as Ansible accepts)
/// from 1 to 65535.
fn port_number(value: &Json) -> Option<u16> {
    let n = match value {
        Json::Number(n) => n.as_u64()?,
        Json::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    u16::try_from(n).ok().filter(|p| *p != 0)
}

impl Inventory {
    /// Reads an inventory. `path` is a YAML file, or a folder: every
    /// `*.yml`/`*.yaml` file directly in it (sorted by name, hidden files
    /// skipped) is a source, merged. `group_vars/` and `host_vars/` beside
    /// the file (or inside the folder) are read as Ansible does: for an
    /// entity NAME, the first of `NAME`, `NAME.yml`, `NAME.yaml`,
    /// `NAME.json` that exists; if that is a folder, all its files (same
    /// extensions, recursively, in name order) are merged. Vars files for
    /// groups or hosts that are not in the inventory are ignored.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let meta = fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                InventoryError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                InventoryError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let (files, base) = if meta.is_dir() {
            let files = yaml_files_in(path)?;
            if files.is_empty() {
                return Err(InventoryError::NoYamlFiles {
                    dir: path.to_path_buf(),
                });
            }
            (files, path.to_path_buf())
        } else {
            (vec![path.to_path_buf()], folder_of(path))
        };
        let mut builder = Builder::default();
        for file in files {
            let text = read(&file)?;
            let source = builder.add_source(file, text);
            builder.add_inventory(source)?;
        }
        builder.check_not_empty(path)?;
        builder.ensure_implicit_groups();
        builder.load_vars_files(&base)?;
        builder.finish(path)
    }

    /// Parses one inventory source from text (no `group_vars/`); `origin`
    /// is the path used in messages and in `inventory_file`.
    pub fn parse(origin: &Path, text: &str) -> Result<Inventory, InventoryError> {
        let mut builder = Builder::default();
        let source = builder.add_source(origin.to_path_buf(), text.to_string());
        builder.add_inventory(source)?;
        builder.check_not_empty(origin)?;
        builder.ensure_implicit_groups();
        builder.finish(origin)
    }

    /// The path the inventory was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Every host, in file order, each once.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Every group: `all` first, then in the order first named.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The host named `name` (exact, no patterns).
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.host_index.get(name).map(|&i| &self.hosts[i])
    }

    /// The group named `name`, `all` and `ungrouped` included.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.group_index.get(name).map(|&i| &self.groups[i])
    }

    /// Every host of a group, its descendants' included, in inventory
    /// order; `None` for an unknown group.
    pub fn group_hosts(&self, name: &str) -> Option<Vec<&Host>> {
        let g = *self.group_index.get(name)?;
        Some(self.members[g].iter().map(|&h| &self.hosts[h]).collect())
    }

    /// Hosts matching an Ansible host pattern (a play's `hosts:`), in
    /// inventory order: `all` or `*`, group names, host names, shell-style
    /// wildcards (`spark-*`), several separated by `,` or `:`, `!name`
    /// excludes, `&name` intersects, `name[0]`/`name[0:2]` subscripts. A
    /// name that matches nothing is an error naming it and listing the known
    /// groups and hosts.
    pub fn select(&self, pattern: &str) -> Result<Vec<&Host>, InventoryError> {
        let pattern = Pattern::parse(pattern)?;
        Ok(self
            .eval(&pattern)?
            .into_iter()
            .map(|i| &self.hosts[i])
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn parse(text: &str) -> Result<Inventory, InventoryError> {
        Inventory::parse(Path::new("inventory/hosts.yml"), text)
    }

    fn parse_ok(text: &str) -> Inventory {
        match parse(text) {
            Ok(inv) => inv,
            Err(err) => panic!("{err}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match parse(text) {
            Ok(inv) => panic!("parsed: {inv:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn names(hosts: &[&Host]) -> Vec<String> {
        hosts.iter().map(|h| h.name.clone()).collect()
    }

    fn select(inv: &Inventory, pattern: &str) -> Vec<String> {
        match inv.select(pattern) {
            Ok(hosts) => names(&hosts),
            Err(err) => panic!("{pattern}: {err}"),
        }
    }

    /// One line per group, then each host with its groups, vars and
    /// connection: what a reviewer wants to read in a snapshot.
    fn render(inv: &Inventory) -> String {
        let mut out = String::new();
        for g in inv.groups() {
            let _ = writeln!(
                out,
                "group {}: hosts [{}], children [{}]",
                g.name,
                g.hosts.join(", "),
                g.children.join(", ")
            );
            if !g.vars.is_empty() {
                let _ = writeln!(out, "  vars {}", Json::Object(g.vars.clone()));
            }
        }
        for h in inv.hosts() {
            let _ = writeln!(out, "host {} in [{}]", h.name, h.groups.join(", "));
            for (k, v) in &h.vars {
                let _ = writeln!(out, "  {k} = {v}");
            }
            let _ = writeln!(out, "  {:?}", h.connection());
        }
        out
    }

    const CLUSTER: &str = "tests/fixtures/inventory/cluster";

    #[test]
    fn loads_a_folder_with_group_vars_and_host_vars() {
        let inv = Inventory::load(Path::new(CLUSTER)).unwrap();
        insta::assert_snapshot!("cluster_folder", render(&inv));
        // Checked against `ansible-inventory -i tests/fixtures/inventory/cluster --list`
        // (ansible-core 2.19): group_vars/all beats the inline vars of the
        // deeper group `sparks`; inline host vars beat group_vars/head.
        let spark1 = inv.host("spark-1").unwrap();
        assert_eq!(spark1.vars["mtu"], 1400);
        assert_eq!(spark1.vars["link"], "qsfp-200g");
        assert_eq!(spark1.vars["role"], "head");
        assert_eq!(inv.host("spark-2").unwrap().vars["role"], "worker");
        assert_eq!(inv.host("laptop").unwrap().vars["mtu"], 1400);
        assert!(!spark1.vars.contains_key("ignored"));
        let conn = spark1.connection();
        assert_eq!(
            conn.key_file,
            Some(Path::new(CLUSTER).join("keys/spark_ed25519"))
        );
        assert_eq!(inv.host("laptop").unwrap().connection().port, Some(22));
    }

    #[test]
    fn loads_a_single_file_with_the_vars_folders_beside_it() {
        let inv = Inventory::load(&Path::new(CLUSTER).join("hosts.yml")).unwrap();
        assert_eq!(
            names(&inv.hosts().iter().collect::<Vec<_>>()),
            ["spark-1", "spark-2"]
        );
        assert_eq!(inv.host("spark-2").unwrap().vars["role"], "worker");
        assert_eq!(
            inv.group("sparks").unwrap().vars["qsfp_subnet"],
            "10.10.0.0/24"
        );
    }

    #[test]
    fn a_host_in_several_groups_is_one_host() {
        let inv = parse_ok(
            "all:\n  children:\n    sparks:\n      hosts:\n        a: {x: 1}\n    gpu:\n      hosts:\n        a: {y: 2}\n        b:\n",
        );
        assert_eq!(inv.hosts().len(), 2);
        let a = inv.host("a").unwrap();
        assert_eq!(a.groups, ["all", "gpu", "sparks"]);
        assert_eq!(a.vars["x"], 1);
        assert_eq!(a.vars["y"], 2);
        assert_eq!(a.vars["group_names"], serde_json::json!(["gpu", "sparks"]));
        assert_eq!(inv.group("gpu").unwrap().hosts, ["a", "b"]);
    }

    #[test]
    fn ungrouped_holds_hosts_in_no_other_group() {
        let inv = parse_ok(
            "all:\n  hosts:\n    loner:\n    both:\nsparks:\n  hosts:\n    both:\nungrouped:\n  hosts:\n    spark-3:\n",
        );
        assert_eq!(inv.group("ungrouped").unwrap().hosts, ["loner", "spark-3"]);
        assert_eq!(inv.host("loner").unwrap().groups, ["all", "ungrouped"]);
        assert_eq!(inv.host("both").unwrap().groups, ["all", "sparks"]);
        assert_eq!(inv.group("all").unwrap().children, ["sparks", "ungrouped"]);
        assert_eq!(
            inv.host("loner").unwrap().vars["group_names"],
            serde_json::json!(["ungrouped"])
        );
    }

    #[test]
    fn deeper_groups_win_then_priority_then_name() {
        // Verified with ansible-inventory (ansible-core 2.19).
        let inv = parse_ok(concat!(
            "all:\n  vars: {x: all, y: all, z: all, w: all}\n",
            "  children:\n",
            "    b:\n      vars: {x: b, y: b}\n      hosts: {h: null}\n",
            "    a:\n      vars: {x: a, y: a, z: a}\n",
            "      children:\n        deep:\n          vars: {z: deep}\n          hosts: {h: null}\n",
            "    c:\n      vars: {w: c, ansible_group_priority: 0}\n      hosts: {h: null}\n",
            "    d:\n      vars: {w: d}\n      hosts: {h: null}\n",
        ));
        let h = inv.host("h").unwrap();
        assert_eq!(h.groups, ["all", "c", "a", "b", "d", "deep"]);
        assert_eq!(h.vars["x"], "b", "same depth: later name wins");
        assert_eq!(h.vars["z"], "deep", "deeper wins");
        assert_eq!(h.vars["w"], "d", "lower priority loses");
    }

    #[test]
    fn host_vars_beat_group_vars_and_repeated_hosts_merge() {
        let inv = parse_ok(
            "all:\n  vars: {x: group}\n  hosts:\n    h: {x: host, y: first}\n  children:\n    g:\n      hosts:\n        h: {y: second}\n",
        );
        let h = inv.host("h").unwrap();
        assert_eq!(h.vars["x"], "host");
        assert_eq!(h.vars["y"], "second");
    }

    #[test]
    fn magic_variables_are_set() {
        let inv = parse_ok("all:\n  hosts:\n    spark-1.lab:\n      inventory_hostname: nope\n");
        let h = inv.host("spark-1.lab").unwrap();
        assert_eq!(h.vars["inventory_hostname"], "spark-1.lab");
        assert_eq!(h.vars["inventory_hostname_short"], "spark-1");
        assert_eq!(h.vars["inventory_file"], "inventory/hosts.yml");
        assert_eq!(h.vars["inventory_dir"], "inventory");
    }

    #[test]
    fn empty_bodies_and_top_level_groups_are_fine() {
        let inv = parse_ok("all:\nsparks:\n  hosts:\n    a:\n  vars:\n  children:\nempty:\n");
        assert_eq!(select(&inv, "sparks"), ["a"]);
        assert_eq!(
            inv.group("all").unwrap().children,
            ["sparks", "empty", "ungrouped"]
        );
        assert!(inv.select("empty").unwrap().is_empty());
    }

    #[test]
    fn host_ranges_expand_like_ansible() {
        let inv = parse_ok(
            "all:\n  hosts:\n    spark-[1:3]:\n      x: 1\n    node-[08:10]:\n    \"[a:b]-[1:2]\":\n    s-[0:6:3]:\n",
        );
        let all: Vec<&str> = inv.hosts().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            all,
            [
                "spark-1", "spark-2", "spark-3", "node-08", "node-09", "node-10", "a-1", "a-2",
                "b-1", "b-2", "s-0", "s-3", "s-6"
            ]
        );
        assert_eq!(inv.host("spark-2").unwrap().vars["x"], 1);
    }

    #[test]
    fn connection_uses_the_host_name_without_ansible_host() {
        let inv = parse_ok(
            "all:\n  hosts:\n    spark-1:\n      ansible_ssh_private_key_file: /abs/key\n",
        );
        let conn = inv.host("spark-1").unwrap().connection();
        assert_eq!(
            conn,
            Connection {
                address: "spark-1".to_string(),
                port: None,
                user: None,
                key_file: Some(PathBuf::from("/abs/key")),
                ssh_config: None,
            }
        );
    }

    #[test]
    fn paths_expand_home_and_resolve_against_the_inventory() {
        let base = Some(Path::new("inv"));
        assert_eq!(resolve_path("keys/a", base), PathBuf::from("inv/keys/a"));
        assert_eq!(resolve_path("/k", base), PathBuf::from("/k"));
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                resolve_path("~/.ssh/k", base),
                PathBuf::from(home).join(".ssh/k")
            );
        }
    }

    #[test]
    fn ports_accept_numbers_and_digit_strings() {
        assert_eq!(port_number(&serde_json::json!(22)), Some(22));
        assert_eq!(port_number(&serde_json::json!("2222")), Some(2222));
        assert_eq!(port_number(&serde_json::json!(0)), None);
        assert_eq!(port_number(&serde_json::json!(65536)), None);
        assert_eq!(port_number(&serde_json::json!("22a")), None);
        assert_eq!(port_number(&serde_json::json!(-1)), None);
    }

    const PATTERNS: &str = concat!(
        "all:\n  hosts:\n    laptop:\n",
        "  children:\n",
        "    sparks:\n      hosts: {spark-1: null, spark-2: null, spark-3: null}\n",
        "      children:\n        head:\n          hosts: {spark-1: null}\n",
        "    gpu:\n      hosts: {spark-3: null, spark-2: null}\n",
    );

    #[test]
    fn patterns_select_in_inventory_order() {
        let inv = parse_ok(PATTERNS);
        assert_eq!(
            select(&inv, "all"),
            ["laptop", "spark-1", "spark-2", "spark-3"]
        );
        assert_eq!(select(&inv, "*"), select(&inv, "all"));
        assert_eq!(select(&inv, "gpu"), ["spark-2", "spark-3"]);
        assert_eq!(select(&inv, "head"), ["spark-1"]);
        assert_eq!(select(&inv, "spark-*"), ["spark-1", "spark-2", "spark-3"]);
        assert_eq!(
            select(&inv, "spark-?,laptop"),
            ["laptop", "spark-1", "spark-2", "spark-3"]
        );
        assert_eq!(select(&inv, "sparks:!head"), ["spark-2", "spark-3"]);
        assert_eq!(select(&inv, "sparks:&gpu:!spark-3"), ["spark-2"]);
        assert_eq!(select(&inv, "!sparks"), ["laptop"]);
        assert_eq!(select(&inv, "&gpu"), ["spark-2", "spark-3"]);
        assert_eq!(select(&inv, "ungrouped"), ["laptop"]);
        assert_eq!(select(&inv, " laptop , spark-3 ,"), ["laptop", "spark-3"]);
        assert_eq!(select(&inv, "sparks[0]"), ["spark-1"]);
        assert_eq!(select(&inv, "sparks[-1]"), ["spark-3"]);
        assert_eq!(select(&inv, "sparks[1:]"), ["spark-2", "spark-3"]);
        assert_eq!(
            select(&inv, "sparks[0:1],laptop"),
            ["laptop", "spark-1", "spark-2"]
        );
        assert!(select(&inv, "sparks[9]").is_empty());
        assert_eq!(
            names(&inv.group_hosts("sparks").unwrap()),
            ["spark-1", "spark-2", "spark-3"]
        );
    }

    #[test]
    fn limit_narrows_a_selection() {
        let inv = parse_ok(PATTERNS);
        let play = inv.select("sparks").unwrap();
        let limit = Limit::parse("spark-2,laptop").unwrap();
        assert_eq!(limit.as_str(), "spark-2,laptop");
        assert_eq!(
            names(&limit.apply(&inv, play.clone()).unwrap()),
            ["spark-2"]
        );
        let limit = Limit::parse("!head").unwrap();
        assert_eq!(
            names(&limit.apply(&inv, play).unwrap()),
            ["spark-2", "spark-3"]
        );
        let err = Limit::parse("sprak-2")
            .unwrap()
            .apply(&inv, inv.select("all").unwrap())
            .unwrap_err();
        assert!(matches!(err, InventoryError::NoMatch { .. }));
    }

    // Every error message, as the user sees it.

    #[test]
    fn error_not_found() {
        let err = Inventory::load(Path::new("no/such/inventory")).unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"inventory not found: no/such/inventory (pass -i PATH, or create inventory/ in the working directory)");
    }

    #[test]
    fn error_malformed_yaml() {
        insta::assert_snapshot!(parse_err(
            "all:\n  hosts:\n    spark-1: {ansible_host: 10.0.0.1\n    spark-2:\n"
        ));
    }

    #[test]
    fn error_duplicate_key() {
        insta::assert_snapshot!(parse_err("all:\n  hosts:\n    a:\n    a:\n"));
    }

    #[test]
    fn error_top_level_not_a_map() {
        insta::assert_snapshot!(parse_err("- spark-1\n- spark-2\n"));
    }

    #[test]
    fn error_group_not_a_map() {
        insta::assert_snapshot!(parse_err("all:\n  children:\n    sparks: spark-1\n"));
    }

    #[test]
    fn error_hosts_not_a_map() {
        insta::assert_snapshot!(parse_err("all:\n  hosts:\n    - spark-1\n    - spark-2\n"));
    }

    #[test]
    fn error_host_vars_not_a_map() {
        insta::assert_snapshot!(parse_err("all:\n  hosts:\n    spark-1: 192.168.1.10\n"));
    }

    #[test]
    fn error_group_vars_not_a_map() {
        insta::assert_snapshot!(parse_err(
            "all:\n  vars:\n    - mtu: 9000\n  hosts:\n    a:\n"
        ));
    }

    #[test]
    fn error_children_not_a_map() {
        insta::assert_snapshot!(parse_err("all:\n  children: [sparks]\n"));
    }

    #[test]
    fn error_unknown_group_key() {
        insta::assert_snapshot!(parse_err(
            "all:\n  children:\n    sparks:\n      host:\n        spark-1:\n"
        ));
    }

    #[test]
    fn error_unknown_group_key_without_suggestion() {
        insta::assert_snapshot!(parse_err("all:\n  hosts:\n    a:\n  ansible_user: me\n"));
    }

    #[test]
    fn error_bad_host_range() {
        insta::assert_snapshot!(parse_err("all:\n  hosts:\n    spark-[3:1]:\n"));
    }

    #[test]
    fn error_group_cycle() {
        insta::assert_snapshot!(parse_err(
            "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n          hosts: {h: null}\n"
        ));
    }

    #[test]
    fn error_empty_inventory() {
        insta::assert_snapshot!(parse_err("all:\n  children:\n    sparks:\n"));
        assert_eq!(parse_err(""), parse_err("all:\n"));
    }

    #[test]
    fn error_bad_port() {
        insta::assert_snapshot!(parse_err(
            "all:\n  hosts:\n    spark-1:\n      ansible_port: 70000\n"
        ));
    }

    #[test]
    fn error_bad_port_from_group_vars() {
        insta::assert_snapshot!(parse_err(
            "all:\n  hosts: {spark-1: null}\n  children:\n    sparks:\n      vars: {ansible_port: ssh}\n      hosts: {spark-1: null}\n"
        ));
    }

    #[test]
    fn error_bad_connection_strings() {
        let host = parse_err("all:\n  hosts:\n    spark-1:\n      ansible_host: [10.0.0.1]\n");
        let user = parse_err("all:\n  vars:\n    ansible_user: ''\n  hosts:\n    spark-1:\n");
        let key =
            parse_err("all:\n  hosts:\n    spark-1:\n      ansible_ssh_private_key_file: 42\n");
        let config = parse_err("all:\n  hosts:\n    spark-1:\n      sparklink_ssh_config: true\n");
        insta::assert_snapshot!([host, user, key, config].join("\n"));
    }

    #[test]
    fn error_bad_group_priority() {
        insta::assert_snapshot!(parse_err(
            "sparks:\n  vars: {ansible_group_priority: high}\n  hosts: {a: null}\n"
        ));
    }

    #[test]
    fn error_pattern_matches_nothing() {
        let inv = parse_ok(PATTERNS);
        let typo = inv.select("sparks:!sprak-2").unwrap_err().to_string();
        let wild = inv.select("node-*").unwrap_err().to_string();
        insta::assert_snapshot!([typo, wild].join("\n"));
    }

    #[test]
    fn error_invalid_patterns() {
        let cases = [
            "",
            " , ",
            "sparks:!",
            "!&sparks",
            "spark 1",
            "sparks[0",
            "sparks]",
            "sparks[a]",
            "sparks[0]x",
            "~spark.*",
            "@retry.txt",
        ];
        let messages: Vec<String> = cases
            .iter()
            .map(|c| Limit::parse(c).unwrap_err().to_string())
            .collect();
        insta::assert_snapshot!(messages.join("\n"));
    }

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn load_err(dir: &Path, path: &Path) -> String {
        let err = Inventory::load(path).unwrap_err().to_string();
        err.replace(&dir.display().to_string(), "[TMP]")
    }

    #[test]
    fn error_folder_without_yaml_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "hosts.ini", "[sparks]\nspark-1\n");
        insta::assert_snapshot!(load_err(dir.path(), dir.path()), @"no inventory files in [TMP]: add a .yml or .yaml file there, or pass -i FILE");
    }

    #[test]
    fn error_group_vars_file_not_a_map() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "hosts.yml", "all:\n  hosts:\n    spark-1:\n");
        write(dir.path(), "group_vars/all.yml", "- mtu: 9000\n");
        insta::assert_snapshot!(load_err(dir.path(), &dir.path().join("hosts.yml")), @"vars file [TMP]/group_vars/all.yml:1:1 is a list; it must be a map of variable names to values");
    }

    #[test]
    fn error_malformed_host_vars_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "hosts.yml", "all:\n  hosts:\n    spark-1:\n");
        write(
            dir.path(),
            "host_vars/spark-1/main.yml",
            "ansible_port: 22\nansible_host: [\n",
        );
        insta::assert_snapshot!(load_err(dir.path(), dir.path()));
    }

    #[test]
    fn error_bad_port_in_host_vars_file() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "hosts.yml",
            "all:\n  hosts:\n    spark-1:\n      ansible_port: 22\n",
        );
        write(
            dir.path(),
            "host_vars/spark-1.yml",
            "# override\nansible_port: 0\n",
        );
        insta::assert_snapshot!(load_err(dir.path(), dir.path()));
    }

    #[test]
    fn error_vault_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "hosts.yml", "all:\n  hosts:\n    spark-1:\n");
        write(
            dir.path(),
            "group_vars/all",
            "$ANSIBLE_VAULT;1.1;AES256\n6134\n",
        );
        insta::assert_snapshot!(load_err(dir.path(), dir.path()));
    }

    #[test]
    fn folder_sources_merge_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.yml", "all:\n  hosts:\n    spark-1: {x: b}\n");
        write(
            dir.path(),
            "a.yaml",
            "all:\n  hosts:\n    spark-2:\n    spark-1: {x: a}\n",
        );
        write(dir.path(), ".hidden.yml", "all: [broken\n");
        write(dir.path(), "group_vars/all/10.yml", "v: 10\nw: 10\n");
        write(dir.path(), "group_vars/all/sub/20.yaml", "v: 20\n");
        write(dir.path(), "group_vars/all/notes.txt", "not: read\n");
        let inv = Inventory::load(dir.path()).unwrap();
        let all: Vec<&str> = inv.hosts().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(all, ["spark-2", "spark-1"]);
        let h = inv.host("spark-1").unwrap();
        assert_eq!(h.vars["x"], "b");
        assert_eq!(h.vars["v"], 20);
        assert_eq!(h.vars["w"], 10);
        assert!(!h.vars.contains_key("not"));
        assert!(h.vars["inventory_file"]
            .as_str()
            .unwrap()
            .ends_with("a.yaml"));
    }
}

/// The parser must answer every input with an inventory or an error.
#[cfg(test)]
mod robustness {
    use super::yaml::arbitrary;
    use super::*;
    use proptest::prelude::*;
    use serde_yaml::Value;

    pub(super) const KEYS: &[&str] = &[
        "all",
        "hosts",
        "vars",
        "children",
        "ungrouped",
        "sparks",
        "spark-1",
        "spark-[1:3]",
        "spark-[01:3]",
        "[a:c]",
        "ansible_port",
        "ansible_host",
        "ansible_user",
        "ansible_group_priority",
        "ansible_ssh_private_key_file",
        "sparklink_ssh_config",
        "host",
        "<<",
    ];

    const PATTERN_WORDS: &[&str] = &[
        "all",
        "*",
        "sparks",
        "spark-1",
        "spark-?",
        "!",
        "&",
        ",",
        ":",
        "[0]",
        "[-1]",
        "[1:]",
        "[",
        "]",
        "~",
        "@",
        " ",
        "ungrouped",
        "x",
    ];

    /// Parses, and when that works, runs patterns and connections over it.
    fn exercise(text: &str, patterns: &[String]) {
        if let Ok(inv) = Inventory::parse(Path::new("fuzz.yml"), text) {
            for host in inv.hosts() {
                let _ = host.connection();
            }
            for pattern in patterns {
                let _ = inv.select(pattern);
                if let Ok(limit) = Limit::parse(pattern) {
                    let _ = limit.apply(&inv, inv.hosts().iter().collect());
                }
            }
        }
    }

    fn patterns() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            prop::collection::vec(prop::sample::select(PATTERN_WORDS), 0..6)
                .prop_map(|words| words.concat()),
            0..4,
        )
    }

    const GROUPS: &[&str] = &["all", "sparks", "head", "gpu", "ungrouped"];
    const HOSTS: &[&str] = &[
        "spark-1",
        "spark-2",
        "laptop",
        "spark-[1:2]",
        "node-[01:03]",
        "[a:b]",
        "bad-[3:1]",
    ];
    const VARS: &[&str] = &[
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_private_key_file",
        "sparklink_ssh_config",
        "ansible_group_priority",
        "mtu",
    ];
    const VALUES: &[&str] = &[
        "10.0.0.1",
        "nvidia",
        "keys/id",
        "~/.ssh/id",
        "",
        "22",
        "high",
    ];

    fn vars() -> impl Strategy<Value = Value> {
        prop::collection::vec(
            (prop::sample::select(VARS), arbitrary::scalar(VALUES)),
            0..4,
        )
        .prop_map(arbitrary::map)
    }

    fn hosts() -> impl Strategy<Value = Value> {
        let host_body = prop_oneof![
            4 => Just(Value::Null),
            3 => vars(),
            1 => arbitrary::scalar(VALUES),
        ];
        prop::collection::vec((prop::sample::select(HOSTS), host_body), 0..4)
            .prop_map(arbitrary::map)
    }

    /// Inventories of the right shape with mistakes sprinkled in: repeated
    /// hosts, nested and cyclic groups, wrong types, unknown keys.
    fn inventory() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![Just(Value::Null), arbitrary::scalar(VALUES)];
        let body = leaf.prop_recursive(4, 24, 3, |inner| {
            let children = prop::collection::vec((prop::sample::select(GROUPS), inner), 0..3)
                .prop_map(arbitrary::map);
            (
                prop::option::weighted(0.8, hosts()),
                prop::option::weighted(0.5, vars()),
                prop::option::weighted(0.5, children),
                prop::option::weighted(0.05, arbitrary::scalar(VALUES)),
            )
                .prop_map(|(hosts, vars, children, typo)| {
                    let mut entries = Vec::new();
                    entries.extend(hosts.map(|h| ("hosts", h)));
                    entries.extend(vars.map(|v| ("vars", v)));
                    entries.extend(children.map(|c| ("children", c)));
                    entries.extend(typo.map(|t| ("host", t)));
                    arbitrary::map(entries)
                })
        });
        prop::collection::vec((prop::sample::select(GROUPS), body), 0..4)
            .prop_map(|groups| arbitrary::render(&arbitrary::map(groups)))
    }

    #[test]
    fn generated_inventories_reach_deep_checks() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = inventory();
        let (mut ok, mut invalid_var) = (0, 0);
        for _ in 0..500 {
            let Ok(tree) = strategy.new_tree(&mut runner) else {
                continue;
            };
            match Inventory::parse(Path::new("f.yml"), &tree.current()) {
                Ok(_) => ok += 1,
                Err(InventoryError::BadVar { .. }) => invalid_var += 1,
                Err(_) => {}
            }
        }
        assert!(
            ok > 25 && invalid_var > 25,
            "ok {ok}, bad vars {invalid_var}"
        );
    }

    proptest! {
        // 4 x 2000 cases; well under a second in a debug build.
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn generated_inventories_never_panic(text in inventory(), pats in patterns()) {
            exercise(&text, &pats);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            exercise(&String::from_utf8_lossy(&bytes), &[]);
        }

        #[test]
        fn arbitrary_yaml_never_panics(text in arbitrary::document(KEYS), pats in patterns()) {
            exercise(&text, &pats);
        }

        #[test]
        fn arbitrary_lines_never_panic(text in arbitrary::lines(KEYS), pats in patterns()) {
            exercise(&text, &pats);
        }
    }
}
