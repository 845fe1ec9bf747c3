//! Building an [`Inventory`] from its files: sources are read into drafts
//! (hosts, groups, inline vars, where each var was written), `group_vars/`
//! and `host_vars/` are added, then [`Builder::finish`] resolves nesting,
//! `ungrouped`, depths, variable precedence (see the parent module doc) and
//! validates the connection variables.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml::Value;

use super::yaml::{self, describe, key_string, suggest, Place, Seg, Source};
use super::{port_number, Group, Host, Inventory, InventoryError, GROUP_KEYS};
use crate::vars::Vars;

pub(super) fn read(path: &Path) -> Result<String, InventoryError> {
    fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The folder a file is in (`.` for a bare file name).
pub(super) fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let err = |source| InventoryError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        entries.push(entry.path());
    }
    entries.sort();
    Ok(entries)
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    extensions.contains(&ext)
}

pub(super) fn yaml_files_in(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_file() && has_extension(p, &["yml", "yaml"]))
        .collect())
}

/// Ansible's `find_vars_files`: the vars files of entity `name` in `dir`.
fn vars_files(dir: &Path, name: &str) -> Result<Vec<PathBuf>, InventoryError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Ok(Vec::new());
    }
    for suffix in ["", ".yml", ".yaml", ".json"] {
        let candidate = dir.join(format!("{name}{suffix}"));
        if candidate.is_dir() {
            let mut found = Vec::new();
            collect_vars_dir(&candidate, &mut found)?;
            return Ok(found);
        }
        if candidate.is_file() {
            return Ok(vec![candidate]);
        }
    }
    Ok(Vec::new())
}

fn collect_vars_dir(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            collect_vars_dir(&entry, found)?;
        } else if has_extension(&entry, &["", "yml", "yaml", "json"]) {
            found.push(entry);
        }
    }
    Ok(())
}

/// Where a variable (or a `children` entry) was written: a source file and
/// the key path in it. Turned into a [`Place`] only for messages.
#[derive(Debug, Clone)]
struct Origin {
    source: usize,
    segs: Vec<Seg>,
}

/// Variables with the origin of each.
#[derive(Debug, Default)]
struct Layer {
    vars: Vars,
    origins: HashMap<String, Origin>,
}

impl Layer {
    fn set(&mut self, key: String, value: Json, origin: Origin) {
        self.origins.insert(key.clone(), origin);
        self.vars.insert(key, value);
    }

    /// Overlays `higher` on this layer.
    fn absorb(&mut self, higher: Layer) {
        crate::vars::overlay(&mut self.vars, &higher.vars);
        self.origins.extend(higher.origins);
    }
}

#[derive(Debug)]
struct HostDraft {
    name: String,
    /// The source that first named the host (for `inventory_file`).
    source: usize,
    inline: Layer,
    files: Layer,
    /// Groups that list the host directly.
    groups: Vec<usize>,
}

#[derive(Debug)]
struct GroupDraft {
    name: String,
    inline: Layer,
    files: Layer,
    hosts: Vec<usize>,
    /// Child groups, with where each was listed (`None` when implicit).
    children: Vec<(usize, Option<Origin>)>,
    parents: Vec<usize>,
}

struct SourceText {
    path: PathBuf,
    text: String,
}

/// Collects sources into drafts, then [`Builder::finish`] resolves groups
/// and variables into an [`Inventory`].
#[derive(Default)]
pub(super) struct Builder {
    sources: Vec<SourceText>,
    hosts: Vec<HostDraft>,
    host_index: HashMap<String, usize>,
    groups: Vec<GroupDraft>,
    group_index: HashMap<String, usize>,
}

impl Builder {
    pub(super) fn add_source(&mut self, path: PathBuf, text: String) -> usize {
        self.sources.push(SourceText { path, text });
        self.sources.len() - 1
    }

    fn source(&self, index: usize) -> Source<'_> {
        let s = &self.sources[index];
        Source {
            file: &s.path,
            text: &s.text,
            label: "",
        }
    }

    fn place(&self, origin: &Origin) -> Place {
        self.source(origin.source).place(&origin.segs, false)
    }

    fn group_id(&mut self, name: &str) -> usize {
        if let Some(&g) = self.group_index.get(name) {
            return g;
        }
        self.groups.push(GroupDraft {
            name: name.to_string(),
            inline: Layer::default(),
            files: Layer::default(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
        });
        let g = self.groups.len() - 1;
        self.group_index.insert(name.to_string(), g);
        g
    }

    fn link(&mut self, parent: usize, child: usize, origin: Option<Origin>) {
        if !self.groups[parent]
            .children
            .iter()
            .any(|(c, _)| *c == child)
        {
            self.groups[parent].children.push((child, origin));
            self.groups[child].parents.push(parent);
        }
    }

    /// Reads one inventory file's top level: a map of group names.
    pub(super) fn add_inventory(&mut self, source: usize) -> Result<(), InventoryError> {
        let value = self.source(source).parse().map_err(InventoryError::yaml)?;
        match yaml::untag(&value) {
            Value::Null => Ok(()),
            Value::Mapping(groups) => {
                for (key, body) in groups {
                    let name = key_string(key);
                    let segs = vec![Seg::Key(name.clone())];
                    self.add_group(source, &name, body, segs, None)?;
                }
                Ok(())
            }
            other => Err(InventoryError::TopNotMap {
                at: self.source(source).place(&[], false),
                found: describe(other),
            }),
        }
    }

    fn add_group(
        &mut self,
        source: usize,
        name: &str,
        body: &Value,
        segs: Vec<Seg>,
        parent: Option<usize>,
    ) -> Result<(), InventoryError> {
        let g = self.group_id(name);
        if let Some(parent) = parent {
            let origin = Origin {
                source,
                segs: segs.clone(),
            };
            self.link(parent, g, Some(origin));
        }
        let body = match yaml::untag(body) {
            Value::Null => return Ok(()),
            Value::Mapping(body) => body,
            other => {
                return Err(InventoryError::GroupNotMap {
                    group: name.to_string(),
                    at: self.source(source).place(&segs, false),
                    found: describe(other),
                })
            }
        };
        for (key, value) in body {
            let key = key_string(key);
            let mut at = segs.clone();
            at.push(Seg::Key(key.clone()));
            let value = yaml::untag(value);
            match key.as_str() {
                "hosts" => match value {
                    Value::Null => {}
                    Value::Mapping(hosts) => {
                        for (host, vars) in hosts {
                            let host = key_string(host);
                            let mut host_at = at.clone();
                            host_at.push(Seg::Key(host.clone()));
                            let names = expand_host_range(&host).map_err(|reason| {
                                InventoryError::BadHostRange {
                                    name: host.clone(),
                                    at: self.source(source).place(&host_at, true),
                                    reason,
                                }
                            })?;
                            for each in names {
                                self.add_host(source, g, &each, vars, host_at.clone())?;
                            }
                        }
                    }
                    other => {
                        return Err(InventoryError::HostsNotMap {
                            group: name.to_string(),
                            at: self.source(source).place(&at, false),
                            found: describe(other),
                        })
                    }
                },
                "vars" => match value {
                    Value::Null => {}
                    Value::Mapping(vars) => {
                        for (var, value) in vars {
                            let var = key_string(var);
                            let mut var_at = at.clone();
                            var_at.push(Seg::Key(var.clone()));
                            let origin = Origin {
                                source,
                                segs: var_at,
                            };
                            self.groups[g].inline.set(var, yaml::to_json(value), origin);
                        }
                    }
                    other => {
                        return Err(InventoryError::GroupVarsNotMap {
                            group: name.to_string(),
                            at: self.source(source).place(&at, false),
                            found: describe(other),
                        })
                    }
                },
                "children" => match value {
                    Value::Null => {}
                    Value::Mapping(children) => {
                        for (child, child_body) in children {
                            let child = key_string(child);
                            let mut child_at = at.clone();
                            child_at.push(Seg::Key(child.clone()));
                            self.add_group(source, &child, child_body, child_at, Some(g))?;
                        }
                    }
                    other => {
                        return Err(InventoryError::ChildrenNotMap {
                            group: name.to_string(),
                            at: self.source(source).place(&at, false),
                            found: describe(other),
                        })
                    }
                },
                _ => {
                    let hint = suggest(&key, &GROUP_KEYS)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_else(|| {
                            "; hosts go under `hosts:` and variables under `vars:`".to_string()
                        });
                    return Err(InventoryError::UnknownGroupKey {
                        group: name.to_string(),
                        at: self.source(source).place_of_key(&at),
                        key,
                        hint,
                    });
                }
            }
        }
        Ok(())
    }

    fn add_host(
        &mut self,
        source: usize,
        group: usize,
        name: &str,
        vars: &Value,
        segs: Vec<Seg>,
    ) -> Result<(), InventoryError> {
        let h = match self.host_index.get(name) {
            Some(&h) => h,
            None => {
                self.hosts.push(HostDraft {
                    name: name.to_string(),
                    source,
                    inline: Layer::default(),
                    files: Layer::default(),
                    groups: Vec::new(),
                });
                let h = self.hosts.len() - 1;
                self.host_index.insert(name.to_string(), h);
                h
            }
        };
        if !self.hosts[h].groups.contains(&group) {
            self.hosts[h].groups.push(group);
            self.groups[group].hosts.push(h);
        }
        match yaml::untag(vars) {
            Value::Null => Ok(()),
            Value::Mapping(vars) => {
                for (var, value) in vars {
                    let var = key_string(var);
                    let mut at = segs.clone();
                    at.push(Seg::Key(var.clone()));
                    let origin = Origin { source, segs: at };
                    self.hosts[h].inline.set(var, yaml::to_json(value), origin);
                }
                Ok(())
            }
            other => Err(InventoryError::HostVarsNotMap {
                host: name.to_string(),
                at: self.source(source).place(&segs, false),
                found: describe(other),
            }),
        }
    }

    pub(super) fn check_not_empty(&self, path: &Path) -> Result<(), InventoryError> {
        if self.hosts.is_empty() {
            return Err(InventoryError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(())
    }

    /// `all` and `ungrouped` always exist; `all` is first.
    pub(super) fn ensure_implicit_groups(&mut self) {
        let all = self.group_id("all");
        if all != 0 {
            let group = self.groups.remove(all);
            self.groups.insert(0, group);
            self.reindex_groups(all);
        }
        self.group_id("ungrouped");
    }

    /// After moving group `moved` to index 0: fix every stored index.
    fn reindex_groups(&mut self, moved: usize) {
        let map = |g: usize| match g.cmp(&moved) {
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Less => g + 1,
            std::cmp::Ordering::Greater => g,
        };
        for group in &mut self.groups {
            for (child, _) in &mut group.children {
                *child = map(*child);
            }
            for parent in &mut group.parents {
                *parent = map(*parent);
            }
        }
        for host in &mut self.hosts {
            for group in &mut host.groups {
                *group = map(*group);
            }
        }
        for index in self.group_index.values_mut() {
            *index = map(*index);
        }
    }

    /// Reads `group_vars/` and `host_vars/` in `base`.
    pub(super) fn load_vars_files(&mut self, base: &Path) -> Result<(), InventoryError> {
        let group_dir = base.join("group_vars");
        if group_dir.is_dir() {
            for g in 0..self.groups.len() {
                let name = self.groups[g].name.clone();
                for file in vars_files(&group_dir, &name)? {
                    let layer = self.read_vars_file(file)?;
                    self.groups[g].files.absorb(layer);
                }
            }
        }
        let host_dir = base.join("host_vars");
        if host_dir.is_dir() {
            for h in 0..self.hosts.len() {
                let name = self.hosts[h].name.clone();
                for file in vars_files(&host_dir, &name)? {
                    let layer = self.read_vars_file(file)?;
                    self.hosts[h].files.absorb(layer);
                }
            }
        }
        Ok(())
    }

    fn read_vars_file(&mut self, file: PathBuf) -> Result<Layer, InventoryError> {
        let text = read(&file)?;
        if text.trim_start().starts_with("$ANSIBLE_VAULT") {
            return Err(InventoryError::VaultFile { path: file });
        }
        let source = self.add_source(file, text);
        let value = self.source(source).parse().map_err(InventoryError::yaml)?;
        let mut layer = Layer::default();
        match yaml::untag(&value) {
            Value::Null => Ok(layer),
            Value::Mapping(vars) => {
                for (key, value) in vars {
                    let key = key_string(key);
                    let origin = Origin {
                        source,
                        segs: vec![Seg::Key(key.clone())],
                    };
                    layer.set(key, yaml::to_json(value), origin);
                }
                Ok(layer)
            }
            other => Err(InventoryError::VarsFileNotMap {
                at: self.source(source).place(&[], false),
                found: describe(other),
            }),
        }
    }

    /// Resolves nesting, membership and variables, and validates them.
    pub(super) fn finish(mut self, path: &Path) -> Result<Inventory, InventoryError> {
        let all = 0;
        let ungrouped = self.group_id("ungrouped");
        for g in 1..self.groups.len() {
            if self.groups[g].parents.is_empty() {
                self.link(all, g, None);
            }
        }
        let depth = self.depths()?;

        // `ungrouped` holds exactly the hosts in no group but `all`.
        for h in 0..self.hosts.len() {
            let alone = self.hosts[h]
                .groups
                .iter()
                .all(|&g| g == all || g == ungrouped);
            let listed = self.hosts[h].groups.contains(&ungrouped);
            if alone && !listed {
                self.hosts[h].groups.push(ungrouped);
                self.groups[ungrouped].hosts.push(h);
            } else if !alone && listed {
                self.hosts[h].groups.retain(|&g| g != ungrouped);
                self.groups[ungrouped].hosts.retain(|&x| x != h);
            }
        }
        self.groups[ungrouped].hosts.sort_unstable();

        let mut priority = Vec::with_capacity(self.groups.len());
        for group in &self.groups {
            priority.push(self.group_priority(group)?);
        }

        let mut hosts = Vec::with_capacity(self.hosts.len());
        let mut members = vec![Vec::new(); self.groups.len()];
        for (h, draft) in self.hosts.iter().enumerate() {
            let mut groups = self.ancestors(&draft.groups);
            groups.insert(all);
            let mut sorted: Vec<usize> = groups.into_iter().collect();
            sorted.sort_by(|&a, &b| {
                (depth[a], priority[a], &self.groups[a].name).cmp(&(
                    depth[b],
                    priority[b],
                    &self.groups[b].name,
                ))
            });
            for &g in &sorted {
                members[g].push(h);
            }
            let host = self.resolve_host(draft, &sorted)?;
            hosts.push(host);
        }

        let groups = self
            .groups
            .iter()
            .map(|g| {
                let mut vars = g.inline.vars.clone();
                crate::vars::overlay(&mut vars, &g.files.vars);
                Group {
                    name: g.name.clone(),
                    vars,
                    hosts: g
                        .hosts
                        .iter()
                        .map(|&h| self.hosts[h].name.clone())
                        .collect(),
                    children: g
                        .children
                        .iter()
                        .map(|(c, _)| self.groups[*c].name.clone())
                        .collect(),
                }
            })
            .collect();
        Ok(Inventory {
            source: path.to_path_buf(),
            hosts,
            groups,
            host_index: self.host_index,
            group_index: self.group_index,
            members,
        })
    }

    /// Each group's depth (longest path from `all`), by Kahn's algorithm;
    /// a group left over sits on a cycle, which is an error.
    fn depths(&self) -> Result<Vec<usize>, InventoryError> {
        let count = self.groups.len();
        let mut waiting: Vec<usize> = self.groups.iter().map(|g| g.parents.len()).collect();
        let mut depth = vec![0usize; count];
        let mut ready: Vec<usize> = (0..count).filter(|&g| waiting[g] == 0).collect();
        let mut done = 0;
        while let Some(g) = ready.pop() {
            done += 1;
            for &(c, _) in &self.groups[g].children {
                depth[c] = depth[c].max(depth[g] + 1);
                waiting[c] -= 1;
                if waiting[c] == 0 {
                    ready.push(c);
                }
            }
        }
        if done == count {
            return Ok(depth);
        }
        // Every group still waiting has a waiting parent: walk up until a
        // group repeats, and that loop is the cycle.
        let mut seen = vec![usize::MAX; count];
        let mut walk = Vec::new();
        let mut g = (0..count).find(|&g| waiting[g] > 0).unwrap_or(0);
        while seen[g] == usize::MAX {
            seen[g] = walk.len();
            walk.push(g);
            g = self.groups[g]
                .parents
                .iter()
                .copied()
                .find(|&p| waiting[p] > 0)
                .unwrap_or(g);
        }
        let mut cycle: Vec<usize> = walk[seen[g]..].to_vec();
        cycle.reverse(); // each group is the parent of the next, the last of the first
                         // Blame the edge written last in the files: rotate it to the end.
        let edge_place = |i: usize| {
            let (parent, child) = (cycle[i], cycle[(i + 1) % cycle.len()]);
            self.groups[parent]
                .children
                .iter()
                .find(|(c, _)| *c == child)
                .and_then(|(_, origin)| origin.as_ref())
                .map(|origin| {
                    (
                        origin.source,
                        self.source(origin.source).place(&origin.segs, true),
                    )
                })
        };
        let places: Vec<Option<(usize, Place)>> = (0..cycle.len()).map(edge_place).collect();
        let last = (0..cycle.len())
            .max_by_key(|&i| places[i].as_ref().map(|(s, p)| (*s, p.line_col)))
            .unwrap_or(0);
        let len = cycle.len();
        cycle.rotate_left((last + 1) % len);
        let mut chain: Vec<&str> = cycle
            .iter()
            .map(|&g| self.groups[g].name.as_str())
            .collect();
        chain.push(chain[0]);
        let at = places[last]
            .clone()
            .map(|(_, place)| place)
            .unwrap_or_else(|| Place::file(&self.sources[0].path));
        Err(InventoryError::Cycle {
            chain: chain.join(" -> "),
            at,
        })
    }

    fn ancestors(&self, direct: &[usize]) -> HashSet<usize> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stack: Vec<usize> = direct.to_vec();
        while let Some(g) = stack.pop() {
            if seen.insert(g) {
                stack.extend(&self.groups[g].parents);
            }
        }
        seen
    }

    /// `ansible_group_priority` from the group's inline vars (default 1).
    fn group_priority(&self, group: &GroupDraft) -> Result<i64, InventoryError> {
        let key = "ansible_group_priority";
        match group.inline.vars.get(key) {
            None => Ok(1),
            Some(value) => {
                let parsed = match value {
                    Json::Number(n) => n.as_i64(),
                    Json::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                parsed.ok_or_else(|| InventoryError::BadVar {
                    var: key.to_string(),
                    owner: format!("group `{}`", group.name),
                    found: describe_json(value),
                    at: group
                        .inline
                        .origins
                        .get(key)
                        .map(|o| self.place(o))
                        .unwrap_or_else(|| Place::file(&self.sources[0].path)),
                    expected: "use a whole number; higher wins among groups of the same depth"
                        .to_string(),
                })
            }
        }
    }

    /// Merges one host's variables by precedence and validates the
    /// connection variables.
    fn resolve_host(&self, draft: &HostDraft, groups: &[usize]) -> Result<Host, InventoryError> {
        let all = 0;
        let mut layers: Vec<&Layer> = vec![&self.groups[all].inline];
        layers.extend(
            groups
                .iter()
                .filter(|&&g| g != all)
                .map(|&g| &self.groups[g].inline),
        );
        layers.push(&self.groups[all].files);
        layers.extend(
            groups
                .iter()
                .filter(|&&g| g != all)
                .map(|&g| &self.groups[g].files),
        );
        layers.push(&draft.inline);
        layers.push(&draft.files);

        let mut vars = Vars::new();
        let mut origins: HashMap<&str, &Origin> = HashMap::new();
        for layer in &layers {
            for (key, value) in &layer.vars {
                vars.insert(key.clone(), value.clone());
            }
            for (key, origin) in &layer.origins {
                origins.insert(key.as_str(), origin);
            }
        }

        for (var, check) in CONNECTION_VARS {
            if let Some(value) = vars.get(var) {
                if let Err(expected) = check(value) {
                    let at = origins
                        .get(var)
                        .map(|o| self.place(o))
                        .unwrap_or_else(|| Place::file(&self.sources[draft.source].path));
                    return Err(InventoryError::BadVar {
                        var: var.to_string(),
                        owner: format!("host `{}`", draft.name),
                        found: describe_json(value),
                        at,
                        expected: expected.to_string(),
                    });
                }
            }
        }

        let file = &self.sources[draft.source].path;
        let group_names: Vec<&str> = {
            let mut names: Vec<&str> = groups
                .iter()
                .filter(|&&g| g != all)
                .map(|&g| self.groups[g].name.as_str())
                .collect();
            names.sort_unstable();
            names
        };
        let short = draft.name.split('.').next().unwrap_or(&draft.name);
        vars.insert("inventory_hostname".into(), Json::from(draft.name.as_str()));
        vars.insert("inventory_hostname_short".into(), Json::from(short));
        vars.insert("group_names".into(), Json::from(group_names));
        vars.insert(
            "inventory_file".into(),
            Json::from(file.to_string_lossy().as_ref()),
        );
        vars.insert(
            "inventory_dir".into(),
            Json::from(folder_of(file).to_string_lossy().as_ref()),
        );
        Ok(Host {
            name: draft.name.clone(),
            vars,
            groups: groups
                .iter()
                .map(|&g| self.groups[g].name.clone())
                .collect(),
        })
    }
}

type Check = fn(&Json) -> Result<(), &'static str>;

/// Connection variables and what each must be.
const CONNECTION_VARS: [(&str, Check); 5] = [
    ("ansible_host", |v| {
        non_empty_string(
            v,
            "write the address as text, e.g. `ansible_host: 192.168.100.11`",
        )
    }),
    ("ansible_port", |v| {
        port_number(v)
            .map(|_| ())
            .ok_or("use a whole number from 1 to 65535, e.g. `ansible_port: 22`")
    }),
    ("ansible_user", |v| {
        non_empty_string(
            v,
            "write the login name as text, e.g. `ansible_user: nvidia`",
        )
    }),
    ("ansible_ssh_private_key_file", |v| {
        non_empty_string(
            v,
            "write a path, e.g. `ansible_ssh_private_key_file: ~/.ssh/id_ed25519`",
        )
    }),
    ("sparklink_ssh_config", |v| {
        non_empty_string(
            v,
            "write a path to an ssh_config file, e.g. `sparklink_ssh_config: ssh_config`",
        )
    }),
];

fn non_empty_string(value: &Json, expected: &'static str) -> Result<(), &'static str> {
    match value {
        Json::String(s) if !s.trim().is_empty() => Ok(()),
        _ => Err(expected),
    }
}

/// What a JSON value is, for messages (like [`describe`] for YAML).
fn describe_json(value: &Json) -> String {
    match value {
        Json::Null => "nothing (null)".to_string(),
        Json::Bool(b) => format!("the boolean `{b}`"),
        Json::Number(n) => format!("the number `{n}`"),
        Json::String(s) if s.is_empty() => "an empty string".to_string(),
        Json::String(s) => format!("the string `{}`", yaml::shorten(s, 40)),
        Json::Array(_) => "a list".to_string(),
        Json::Object(_) => "a map".to_string(),
    }
}

/// Expands Ansible host ranges: `spark-[1:3]` is `spark-1`, `spark-2`,
/// `spark-3`; `node-[01:10]` keeps the zero padding; `[a:c]` letters;
/// `[1:9:2]` a stride. Several ranges in one name multiply out.
fn expand_host_range(name: &str) -> Result<Vec<String>, String> {
    let Some(open) = name.find('[') else {
        if name.contains(']') {
            return Err("`]` without `[`".to_string());
        }
        return Ok(vec![name.to_string()]);
    };
    let close = name[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| "`[` without `]`".to_string())?;
    let (head, body, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let parts: Vec<&str> = body.split(':').collect();
    let (begin, end, stride) = match parts.as_slice() {
        [b, e] => (*b, *e, 1usize),
        [b, e, s] => (
            *b,
            *e,
            s.parse::<usize>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("stride `{s}` is not a positive number"))?,
        ),
        _ => return Err(format!("`[{body}]` is not `[begin:end]`")),
    };
    let items: Vec<String> = if let (Ok(b), Ok(e)) = (begin.parse::<u64>(), end.parse::<u64>()) {
        let width = if begin.len() > 1 && begin.starts_with('0') {
            if begin.len() != end.len() {
                return Err("zero-padded begin and end must have the same width".to_string());
            }
            begin.len()
        } else {
            0
        };
        if b > e {
            return Err(format!("begin `{begin}` is after end `{end}`"));
        }
        if (e - b) / stride as u64 >= 10_000 {
            return Err("it expands to more than 10000 hosts".to_string());
        }
        (b..=e)
            .step_by(stride)
            .map(|n| format!("{n:0width$}"))
            .collect()
    } else {
        let letter = |s: &str| {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphabetic() => Some(c),
                _ => None,
            }
        };
        match (letter(begin), letter(end)) {
            (Some(b), Some(e)) if b <= e => (b..=e).step_by(stride).map(String::from).collect(),
            (Some(_), Some(_)) => return Err(format!("begin `{begin}` is after end `{end}`")),
            _ => {
                return Err(format!(
                    "`{begin}` and `{end}` must both be numbers or both single letters"
                ))
            }
        }
    };
    let tails = expand_host_range(tail)?;
    if items.len().saturating_mul(tails.len()) > 10_000 {
        return Err("it expands to more than 10000 hosts".to_string());
    }
    let mut out = Vec::with_capacity(items.len() * tails.len());
    for item in &items {
        for rest in &tails {
            out.push(format!("{head}{item}{rest}"));
        }
    }
    Ok(out)
}
