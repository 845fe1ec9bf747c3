//! Playbooks: an Ansible-style YAML list of plays, read into [`Play`]s and
//! [`Task`]s and validated before anything runs.
//!
//! Owns: the playbook file format (which keys a play and a task may have,
//! their types, the one-module-per-task rule, handler names and `notify`),
//! and the messages for every way a playbook can be wrong. Each message
//! names the file, the line and column, the key path (`plays[0].tasks[2]`)
//! and what to change. Templating, module arguments and running are not
//! here: arguments stay as the YAML gave them ([`Task::args`]).

#![expect(
    clippy::result_large_err,
    reason = "errors carry the file, position and key path for the message; they are built once, on the way out"
)]

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value};

use crate::inventory::yaml::{self, describe, key_string, scalar_string, suggest, Seg, Source};
pub use crate::inventory::Place;
use crate::vars::Vars;

/// Keys a play may have.
pub const PLAY_KEYS: [&str; 7] = [
    "name",
    "hosts",
    "vars",
    "become",
    "gather_facts",
    "tasks",
    "handlers",
];

/// Keys a task may have besides its one module key.
pub const TASK_KEYS: [&str; 12] = [
    "name",
    "when",
    "register",
    "become",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "check_mode",
    "notify",
    "tags",
    "run_once",
    "vars",
];

/// Everything that can be wrong with a playbook.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaybookError {
    #[error("playbook not found: {}; check the path", path.display())]
    NotFound { path: PathBuf },
    #[error("failed to read playbook {}", path.display())]
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
    #[error("playbook {at} is {found}; a playbook is a list of plays, each starting with `- hosts: ...`")]
    NotAList { at: Place, found: String },
    #[error("playbook {} has no plays; add one, e.g. `- hosts: all` with `tasks:` under it", path.display())]
    Empty { path: PathBuf },
    #[error("play {play} in {at} is {found}; a play is a map with at least `hosts:`")]
    PlayNotMap {
        play: usize,
        at: Place,
        found: String,
    },
    #[error("{play} in {at} has no `hosts`; add `hosts: all`, a group or a host name")]
    MissingHosts { play: String, at: Place },
    #[error("unknown play key `{key}` in {at}; valid keys: {valid}{hint}")]
    UnknownPlayKey {
        key: String,
        at: Place,
        valid: String,
        hint: String,
    },
    #[error(
        "{task} in {at} is {found}; a task is a map with one module key, e.g. `- command: ls -l`"
    )]
    TaskNotMap {
        task: String,
        at: Place,
        found: String,
    },
    #[error("unknown module or task key `{key}` in {at}; known modules: {modules}; task keys: {task_keys}{hint}")]
    UnknownTaskKey {
        key: String,
        at: Place,
        modules: String,
        task_keys: String,
        hint: String,
    },
    #[error("{task} in {at} has two modules, `{first}` and `{second}`; a task runs exactly one module, so split it into two tasks")]
    TwoModules {
        task: String,
        first: String,
        second: String,
        at: Place,
    },
    #[error("{task} in {at} has no module; add exactly one of: {modules}")]
    NoModule {
        task: String,
        at: Place,
        modules: String,
    },
    #[error("`{key}` in {at} must be {expected}, found {found}")]
    WrongType {
        key: String,
        at: Place,
        expected: String,
        found: String,
    },
    #[error("`register: {name}` in {at} is not a valid variable name; use letters, digits and `_`, not starting with a digit")]
    BadRegister { name: String, at: Place },
    #[error("handler in {at} has no `name`; tasks notify handlers by name, so give it one")]
    UnnamedHandler { at: Place },
    #[error("two handlers named '{name}' in {play}, the second in {at}; tasks notify handlers by name, so rename one")]
    DuplicateHandler {
        name: String,
        play: String,
        at: Place,
    },
    #[error("{task} in {at} notifies '{handler}', but {play} has no handler by that name{hint}; its handlers: {handlers}")]
    UnknownHandler {
        task: String,
        handler: String,
        play: String,
        at: Place,
        handlers: String,
        hint: String,
    },
}

/// A playbook: its plays in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
}

/// One play.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    /// `name:`, or the host pattern when there is none (as Ansible shows it).
    pub name: String,
    /// The host pattern (a list in the file is joined with `,`).
    pub hosts: String,
    pub vars: Vars,
    pub r#become: bool,
    /// Defaults to false: facts cost a round trip and most plays need none.
    pub gather_facts: bool,
    pub tasks: Vec<Task>,
    pub handlers: Vec<Task>,
}

/// One task (or handler).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `name:`, or `<module> <short args>` when there is none.
    pub name: String,
    /// The one module key.
    pub module: String,
    /// The module's argument as written: a string (free form, like
    /// `command: ls -l`), a map, or null.
    pub args: Json,
    /// Conditions, all of which must hold. Booleans become "true"/"false".
    pub when: Vec<String>,
    pub register: Option<String>,
    pub r#become: Option<bool>,
    /// A condition; a list in the file is joined with `and`.
    pub changed_when: Option<String>,
    pub failed_when: Option<String>,
    pub ignore_errors: bool,
    pub check_mode: Option<bool>,
    /// Handler names (`notify: a` or a list).
    pub notify: Vec<String>,
    /// Tags (`tags: a`, `tags: a,b` or a list).
    pub tags: Vec<String>,
    pub run_once: bool,
    pub vars: Vars,
    /// Where the task is, for messages.
    pub location: Location,
}

/// Which list of a play a task is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tasks,
    Handlers,
}

/// Where a task is: file, play and index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 0-based index of the play.
    pub play: usize,
    pub play_name: String,
    pub section: Section,
    /// 0-based index in `tasks` or `handlers`.
    pub index: usize,
}

impl Location {
    /// The key path, like `plays[0].tasks[2]`.
    pub fn key_path(&self) -> String {
        let section = match self.section {
            Section::Tasks => "tasks",
            Section::Handlers => "handlers",
        };
        format!("plays[{}].{section}[{}]", self.play, self.index)
    }
}

/// `play 1 'Connect', task 3` (1-based, as people count).
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let section = match self.section {
            Section::Tasks => "task",
            Section::Handlers => "handler",
        };
        write!(
            f,
            "play {} '{}', {section} {}",
            self.play + 1,
            self.play_name,
            self.index + 1
        )
    }
}

impl Playbook {
    /// Reads and validates a playbook file. `known_modules` are the module
    /// names a task may use (`ansible.builtin.NAME` is accepted as NAME).
    pub fn load(path: &Path, known_modules: &[&str]) -> Result<Playbook, PlaybookError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                PlaybookError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                PlaybookError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Playbook::parse(path, &text, known_modules)
    }

    /// Parses a playbook from text; `origin` is the path used in messages.
    pub fn parse(
        origin: &Path,
        text: &str,
        known_modules: &[&str],
    ) -> Result<Playbook, PlaybookError> {
        let source = Source {
            file: origin,
            text,
            label: "plays",
        };
        let value = source.parse().map_err(|err| PlaybookError::Yaml {
            at: err.place,
            message: err.message,
            fix: err.fix.to_string(),
        })?;
        let mut modules: Vec<&str> = known_modules.to_vec();
        modules.sort_unstable();
        modules.dedup();
        let reader = Reader {
            source,
            modules: &modules,
        };
        let plays = match yaml::untag(&value) {
            Value::Null => Vec::new(),
            Value::Sequence(plays) => plays
                .iter()
                .enumerate()
                .map(|(i, play)| reader.play(i, play))
                .collect::<Result<Vec<_>, _>>()?,
            other => {
                return Err(PlaybookError::NotAList {
                    at: Place {
                        key_path: String::new(),
                        ..source.place(&[], false)
                    },
                    found: describe(other),
                })
            }
        };
        if plays.is_empty() {
            return Err(PlaybookError::Empty {
                path: origin.to_path_buf(),
            });
        }
        Ok(Playbook {
            path: origin.to_path_buf(),
            plays,
        })
    }
}

/// Reads plays and tasks out of the document, with the source for places.
struct Reader<'a> {
    source: Source<'a>,
    /// Sorted, for messages.
    modules: &'a [&'a str],
}

/// A key path under construction.
fn path(base: &[Seg], more: &[Seg]) -> Vec<Seg> {
    let mut out = base.to_vec();
    out.extend_from_slice(more);
    out
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// `play 1 'Connect'` (or `play 1` when it has no name yet).
fn play_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("play {} '{name}'", index + 1),
        None => format!("play {}", index + 1),
    }
}

/// Ansible's booleans: YAML true/false and yes/no/on/off/y/n/1/0 text.
fn boolean(value: &Value) -> Option<bool> {
    match yaml::untag(value) {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" | "t" | "1" => Some(true),
            "false" | "no" | "off" | "n" | "f" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => match n.as_u64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A valid variable name: `[A-Za-z_][A-Za-z0-9_]*`, not a Jinja keyword.
fn is_identifier(name: &str) -> bool {
    const RESERVED: [&str; 13] = [
        "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if",
        "else",
    ];
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !RESERVED.contains(&name)
}

impl<'a> Reader<'a> {
    fn place(&self, segs: &[Seg]) -> Place {
        self.source.place(segs, false)
    }

    fn wrong_type(
        &self,
        key_name: &str,
        segs: &[Seg],
        expected: &str,
        found: &Value,
    ) -> PlaybookError {
        PlaybookError::WrongType {
            key: key_name.to_string(),
            at: self.place(segs),
            expected: expected.to_string(),
            found: describe(found),
        }
    }

    fn bool_key(&self, name: &str, value: &Value, segs: &[Seg]) -> Result<bool, PlaybookError> {
        boolean(value).ok_or_else(|| self.wrong_type(name, segs, "true or false", value))
    }

    fn vars(&self, value: &Value, segs: &[Seg]) -> Result<Vars, PlaybookError> {
        match yaml::untag(value) {
            Value::Null => Ok(Vars::new()),
            Value::Mapping(map) => Ok(yaml::to_vars(map)),
            other => Err(self.wrong_type("vars", segs, "a map of variable names to values", other)),
        }
    }

    /// A string, or a list of strings (`null` is none). Numbers and
    /// booleans are accepted as their text.
    fn strings(
        &self,
        name: &str,
        value: &Value,
        segs: &[Seg],
        expected: &str,
    ) -> Result<Vec<String>, PlaybookError> {
        match yaml::untag(value) {
            Value::Null => Ok(Vec::new()),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    scalar_string(item).ok_or_else(|| {
                        let mut at = segs.to_vec();
                        at.push(Seg::Index(i));
                        self.wrong_type(name, &at, expected, item)
                    })
                })
                .collect(),
            other => scalar_string(other)
                .map(|s| vec![s])
                .ok_or_else(|| self.wrong_type(name, segs, expected, other)),
        }
    }

    fn play(&self, index: usize, value: &Value) -> Result<Play, PlaybookError> {
        let segs = vec![Seg::Index(index)];
        let map = match yaml::untag(value) {
            Value::Mapping(map) => map,
            other => {
                return Err(PlaybookError::PlayNotMap {
                    play: index + 1,
                    at: self.place(&segs),
                    found: describe(other),
                })
            }
        };
        for k in map.keys() {
            let k = key_string(k);
            if !PLAY_KEYS.contains(&k.as_str()) {
                let hint = suggest(&k, &PLAY_KEYS)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(PlaybookError::UnknownPlayKey {
                    at: self.source.place_of_key(&path(&segs, &[key(&k)])),
                    key: k,
                    valid: PLAY_KEYS.join(", "),
                    hint,
                });
            }
        }
        let get = |name: &str| map.get(name);

        let name = match get("name") {
            None => None,
            Some(v) => match yaml::untag(v) {
                Value::Null => None,
                other => Some(scalar_string(other).ok_or_else(|| {
                    self.wrong_type("name", &path(&segs, &[key("name")]), "text", other)
                })?),
            },
        };
        let hosts_at = path(&segs, &[key("hosts")]);
        let hosts = match get("hosts") {
            None => Vec::new(),
            Some(v) => self.strings(
                "hosts",
                v,
                &hosts_at,
                "a host pattern (text) or a list of them",
            )?,
        };
        let hosts: Vec<String> = hosts
            .iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect();
        if hosts.is_empty() {
            return Err(PlaybookError::MissingHosts {
                play: play_label(index, name.as_deref()),
                at: self.place(&segs),
            });
        }
        let hosts = hosts.join(",");
        let name = name.unwrap_or_else(|| hosts.clone());

        let vars = match get("vars") {
            None => Vars::new(),
            Some(v) => self.vars(v, &path(&segs, &[key("vars")]))?,
        };
        let flag = |name: &str| -> Result<Option<bool>, PlaybookError> {
            get(name)
                .map(|v| self.bool_key(name, v, &path(&segs, &[key(name)])))
                .transpose()
        };
        let r#become = flag("become")?.unwrap_or(false);
        let gather_facts = flag("gather_facts")?.unwrap_or(false);

        let mut play = Play {
            name,
            hosts,
            vars,
            r#become,
            gather_facts,
            tasks: Vec::new(),
            handlers: Vec::new(),
        };
        play.tasks = self.task_list(&play, index, Section::Tasks, get("tasks"))?;
        play.handlers = self.task_list(&play, index, Section::Handlers, get("handlers"))?;
        self.check_handlers(&play, index, map)?;
        Ok(play)
    }

    fn task_list(
        &self,
        play: &Play,
        play_index: usize,
        section: Section,
        value: Option<&Value>,
    ) -> Result<Vec<Task>, PlaybookError> {
        let section_key = match section {
            Section::Tasks => "tasks",
            Section::Handlers => "handlers",
        };
        let segs = vec![Seg::Index(play_index), key(section_key)];
        match value.map(yaml::untag) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let location = Location {
                        file: self.source.file.to_path_buf(),
                        play: play_index,
                        play_name: play.name.clone(),
                        section,
                        index: i,
                    };
                    self.task(item, location)
                })
                .collect(),
            Some(other) => Err(self.wrong_type(section_key, &segs, "a list of tasks", other)),
        }
    }

    fn segs_of(location: &Location) -> Vec<Seg> {
        let section = match location.section {
            Section::Tasks => "tasks",
            Section::Handlers => "handlers",
        };
        vec![
            Seg::Index(location.play),
            key(section),
            Seg::Index(location.index),
        ]
    }

    /// The module a key names, if any (`ansible.builtin.copy` is `copy`).
    fn module_of(&self, k: &str) -> Option<&'a str> {
        let bare = k
            .strip_prefix("ansible.builtin.")
            .or_else(|| k.strip_prefix("ansible.legacy."))
            .unwrap_or(k);
        self.modules.iter().copied().find(|m| *m == bare)
    }

    fn task(&self, value: &Value, location: Location) -> Result<Task, PlaybookError> {
        let segs = Self::segs_of(&location);
        let what = match location.section {
            Section::Tasks => "task",
            Section::Handlers => "handler",
        };
        let map: &Mapping = match yaml::untag(value) {
            Value::Mapping(map) => map,
            other => {
                return Err(PlaybookError::TaskNotMap {
                    task: format!(
                        "{what} {} of {}",
                        location.index + 1,
                        play_label(location.play, Some(&location.play_name))
                    ),
                    at: self.place(&segs),
                    found: describe(other),
                })
            }
        };

        let get = |name: &str| map.get(name);
        let at = |name: &str| path(&segs, &[key(name)]);
        let name = match get("name") {
            None => None,
            Some(v) => match yaml::untag(v) {
                Value::Null => None,
                other => Some(
                    scalar_string(other)
                        .ok_or_else(|| self.wrong_type("name", &at("name"), "text", other))?,
                ),
            },
        };
        let label = match &name {
            Some(n) => format!("{what} '{n}'"),
            None => what.to_string(),
        };

        let mut module: Option<(String, &str, &Value)> = None;
        for (k, v) in map {
            let k = key_string(k);
            if TASK_KEYS.contains(&k.as_str()) {
                continue;
            }
            let key_segs = path(&segs, &[key(&k)]);
            match self.module_of(&k) {
                Some(bare) => {
                    if let Some((first, _, _)) = &module {
                        return Err(PlaybookError::TwoModules {
                            task: label,
                            first: first.clone(),
                            second: k.clone(),
                            at: self.source.place_of_key(&key_segs),
                        });
                    }
                    module = Some((k.clone(), bare, v));
                }
                None => {
                    let mut candidates: Vec<&str> = self.modules.to_vec();
                    candidates.extend(TASK_KEYS);
                    let hint = suggest(&k, &candidates)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    return Err(PlaybookError::UnknownTaskKey {
                        at: self.source.place_of_key(&key_segs),
                        key: k,
                        modules: self.modules.join(", "),
                        task_keys: TASK_KEYS.join(", "),
                        hint,
                    });
                }
            }
        }

        let Some((module_key, module, raw_args)) = module else {
            return Err(PlaybookError::NoModule {
                task: label,
                at: self.place(&segs),
                modules: self.modules.join(", "),
            });
        };
        let args = match yaml::untag(raw_args) {
            Value::Null => Json::Null,
            Value::String(s) => Json::String(s.clone()),
            Value::Number(_) => Json::String(scalar_string(raw_args).unwrap_or_default()),
            Value::Mapping(map) => Json::Object(yaml::to_vars(map)),
            other => {
                return Err(self.wrong_type(
                    &module_key,
                    &at(&module_key),
                    "free-form text or a map of arguments",
                    other,
                ))
            }
        };

        let condition = "a condition (text or true/false) or a list of them";
        let when = match get("when") {
            None => Vec::new(),
            Some(v) => self.strings("when", v, &at("when"), condition)?,
        };
        let joined = |name: &str| -> Result<Option<String>, PlaybookError> {
            let Some(v) = get(name) else { return Ok(None) };
            let parts = self.strings(name, v, &at(name), condition)?;
            Ok(match parts.len() {
                0 => None,
                1 => parts.into_iter().next(),
                _ => Some(
                    parts
                        .iter()
                        .map(|p| format!("({p})"))
                        .collect::<Vec<_>>()
                        .join(" and "),
                ),
            })
        };
        let changed_when = joined("changed_when")?;
        let failed_when = joined("failed_when")?;

        let register = match get("register") {
            None => None,
            Some(v) => match yaml::untag(v) {
                Value::String(s) if is_identifier(s) => Some(s.clone()),
                Value::String(s) => {
                    return Err(PlaybookError::BadRegister {
                        name: s.clone(),
                        at: self.place(&at("register")),
                    })
                }
                other => {
                    return Err(self.wrong_type(
                        "register",
                        &at("register"),
                        "a variable name",
                        other,
                    ))
                }
            },
        };
        let flag = |name: &str| -> Result<Option<bool>, PlaybookError> {
            get(name)
                .map(|v| self.bool_key(name, v, &at(name)))
                .transpose()
        };
        let r#become = flag("become")?;
        let ignore_errors = flag("ignore_errors")?.unwrap_or(false);
        let check_mode = flag("check_mode")?;
        let run_once = flag("run_once")?.unwrap_or(false);
        let notify = match get("notify") {
            None => Vec::new(),
            Some(v) => self.strings(
                "notify",
                v,
                &at("notify"),
                "a handler name or a list of handler names",
            )?,
        };
        let tags = match get("tags") {
            None => Vec::new(),
            Some(v) => self
                .strings("tags", v, &at("tags"), "a tag or a list of tags")?
                .iter()
                .flat_map(|t| t.split(','))
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        };
        let vars = match get("vars") {
            None => Vars::new(),
            Some(v) => self.vars(v, &at("vars"))?,
        };
        if location.section == Section::Handlers && name.is_none() {
            return Err(PlaybookError::UnnamedHandler {
                at: self.place(&segs),
            });
        }
        let name = name.unwrap_or_else(|| default_name(module, &args));
        Ok(Task {
            name,
            module: module.to_string(),
            args,
            when,
            register,
            r#become,
            changed_when,
            failed_when,
            ignore_errors,
            check_mode,
            notify,
            tags,
            run_once,
            vars,
            location,
        })
    }

    /// Handlers need unique names; every `notify` must name one of them.
    fn check_handlers(
        &self,
        play: &Play,
        index: usize,
        raw: &Mapping,
    ) -> Result<(), PlaybookError> {
        let mut names: Vec<&str> = Vec::new();
        for handler in &play.handlers {
            let segs = Self::segs_of(&handler.location);
            if names.contains(&handler.name.as_str()) {
                return Err(PlaybookError::DuplicateHandler {
                    name: handler.name.clone(),
                    play: play_label(index, Some(&play.name)),
                    at: self.place(&path(&segs, &[key("name")])),
                });
            }
            names.push(&handler.name);
        }
        for task in play.tasks.iter().chain(&play.handlers) {
            for (i, target) in task.notify.iter().enumerate() {
                if names.contains(&target.as_str()) {
                    continue;
                }
                let mut segs = Self::segs_of(&task.location);
                segs.push(key("notify"));
                let listed = raw_task(raw, &task.location)
                    .and_then(|m| m.get("notify"))
                    .is_some_and(|n| yaml::untag(n).is_sequence());
                if listed {
                    segs.push(Seg::Index(i));
                }
                let what = match task.location.section {
                    Section::Tasks => "task",
                    Section::Handlers => "handler",
                };
                let handlers = if names.is_empty() {
                    "none".to_string()
                } else {
                    names
                        .iter()
                        .map(|n| format!("'{n}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let hint = suggest(target, &names)
                    .map(|s| format!("; did you mean '{s}'?"))
                    .unwrap_or_default();
                return Err(PlaybookError::UnknownHandler {
                    task: format!("{what} '{}'", task.name),
                    handler: target.clone(),
                    play: play_label(index, Some(&play.name)),
                    at: self.place(&segs),
                    handlers,
                    hint,
                });
            }
        }
        Ok(())
    }
}

/// A task's map in the play's map again (for checks after reading).
fn raw_task<'m>(play: &'m Mapping, location: &Location) -> Option<&'m Mapping> {
    let section = match location.section {
        Section::Tasks => "tasks",
        Section::Handlers => "handlers",
    };
    match yaml::untag(play.get(section)?) {
        Value::Sequence(items) => match yaml::untag(items.get(location.index)?) {
            Value::Mapping(map) => Some(map),
            _ => None,
        },
        _ => None,
    }
}

/// `<module> <short args>`: `command ls -l`, `copy src=a dest=b`.
fn default_name(module: &str, args: &Json) -> String {
    let short = match args {
        Json::String(s) => s.clone(),
        Json::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Json::String(s) => format!("{k}={s}"),
                Json::Number(n) => format!("{k}={n}"),
                Json::Bool(b) => format!("{k}={b}"),
                _ => format!("{k}=..."),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    let short = yaml::shorten(short.trim(), 40);
    if short.is_empty() {
        module.to_string()
    } else {
        format!("{module} {short}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    const MODULES: [&str; 9] = [
        "command",
        "shell",
        "copy",
        "template",
        "file",
        "debug",
        "qsfp_facts",
        "netplan_apply",
        "ssh_key_mesh",
    ];

    fn parse(text: &str) -> Result<Playbook, PlaybookError> {
        Playbook::parse(Path::new("playbooks/site.yml"), text, &MODULES)
    }

    fn parse_ok(text: &str) -> Playbook {
        match parse(text) {
            Ok(book) => book,
            Err(err) => panic!("{err}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match parse(text) {
            Ok(book) => panic!("parsed: {book:?}"),
            Err(err) => err.to_string(),
        }
    }

    /// Plays and tasks with every field that is not at its default.
    fn render(book: &Playbook) -> String {
        let mut out = String::new();
        for play in &book.plays {
            let _ = writeln!(
                out,
                "play '{}' hosts={:?} become={} gather_facts={}",
                play.name, play.hosts, play.r#become, play.gather_facts
            );
            if !play.vars.is_empty() {
                let _ = writeln!(out, "  vars {}", Json::Object(play.vars.clone()));
            }
            for task in play.tasks.iter().chain(&play.handlers) {
                let _ = writeln!(out, "  [{}] '{}'", task.location, task.name);
                let _ = writeln!(out, "    {} {}", task.module, task.args);
                let mut field = |name: &str, value: String| {
                    let _ = writeln!(out, "    {name}: {value}");
                };
                if !task.when.is_empty() {
                    field("when", format!("{:?}", task.when));
                }
                if let Some(r) = &task.register {
                    field("register", r.clone());
                }
                if let Some(b) = task.r#become {
                    field("become", b.to_string());
                }
                if let Some(c) = &task.changed_when {
                    field("changed_when", format!("{c:?}"));
                }
                if let Some(f) = &task.failed_when {
                    field("failed_when", format!("{f:?}"));
                }
                if task.ignore_errors {
                    field("ignore_errors", "true".into());
                }
                if let Some(c) = task.check_mode {
                    field("check_mode", c.to_string());
                }
                if !task.notify.is_empty() {
                    field("notify", format!("{:?}", task.notify));
                }
                if !task.tags.is_empty() {
                    field("tags", format!("{:?}", task.tags));
                }
                if task.run_once {
                    field("run_once", "true".into());
                }
                if !task.vars.is_empty() {
                    field("vars", Json::Object(task.vars.clone()).to_string());
                }
            }
        }
        out
    }

    #[test]
    fn loads_the_site_fixture() {
        let book =
            Playbook::load(Path::new("tests/fixtures/playbooks/site.yml"), &MODULES).unwrap();
        insta::assert_snapshot!("site", render(&book));
        let task = &book.plays[0].tasks[1];
        assert_eq!(
            task.location.to_string(),
            "play 1 'Connect the sparks', task 2"
        );
        assert_eq!(task.location.key_path(), "plays[0].tasks[1]");
        assert_eq!(
            task.location.file,
            Path::new("tests/fixtures/playbooks/site.yml")
        );
        assert_eq!(
            book.plays[0].handlers[0].location.section,
            Section::Handlers
        );
    }

    #[test]
    fn default_names_show_module_and_short_args() {
        let book = parse_ok(concat!(
            "- hosts: all\n  tasks:\n",
            "    - command: ls -l /etc\n",
            "    - copy: {src: a.txt, dest: /tmp/a.txt, mode: 420, backup: true, x: [1]}\n",
            "    - qsfp_facts:\n",
            "    - shell: \"echo this is a very long command line that goes on and on\"\n",
            "    - shell: \"echo one\\necho two\"\n",
        ));
        let names: Vec<&str> = book.plays[0]
            .tasks
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        insta::assert_snapshot!(names.join("\n"), @r"
        command ls -l /etc
        copy src=a.txt dest=/tmp/a.txt mode=420 ba...
        qsfp_facts
        shell echo this is a very long command line...
        shell echo one...
        ");
    }

    #[test]
    fn defaults_for_a_minimal_play() {
        let book = parse_ok("- hosts: [sparks, laptop]\n  tasks:\n    - debug:\n");
        let play = &book.plays[0];
        assert_eq!(play.hosts, "sparks,laptop");
        assert_eq!(play.name, "sparks,laptop");
        assert!(!play.gather_facts);
        assert!(!play.r#become);
        assert!(play.handlers.is_empty());
        let task = &play.tasks[0];
        assert_eq!(task.args, Json::Null);
        assert_eq!(task.r#become, None);
        assert_eq!(task.check_mode, None);
        assert!(!task.ignore_errors && !task.run_once);
    }

    #[test]
    fn empty_lists_and_vars_are_fine() {
        let book = parse_ok("- hosts: all\n  vars:\n  tasks:\n  handlers:\n");
        assert!(book.plays[0].tasks.is_empty());
        assert!(book.plays[0].vars.is_empty());
    }

    #[test]
    fn booleans_follow_ansible() {
        for (text, expected) in [
            ("yes", true),
            ("No", false),
            ("on", true),
            ("'0'", false),
            ("1", true),
        ] {
            let book = parse_ok(&format!("- hosts: all\n  become: {text}\n"));
            assert_eq!(book.plays[0].r#become, expected, "{text}");
        }
    }

    #[test]
    fn conditions_and_lists() {
        let book = parse_ok(concat!(
            "- hosts: all\n  tasks:\n",
            "    - command: x\n      when: false\n      changed_when: rc == 2\n",
            "      failed_when: [rc > 2, \"'boom' in stdout\"]\n      tags: 7\n",
        ));
        let task = &book.plays[0].tasks[0];
        assert_eq!(task.when, ["false"]);
        assert_eq!(task.changed_when.as_deref(), Some("rc == 2"));
        assert_eq!(
            task.failed_when.as_deref(),
            Some("(rc > 2) and ('boom' in stdout)")
        );
        assert_eq!(task.tags, ["7"]);
    }

    #[test]
    fn register_names_must_be_identifiers() {
        assert!(is_identifier("qsfp_facts2"));
        assert!(is_identifier("_x"));
        assert!(!is_identifier("2x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("true"));
    }

    #[test]
    fn merge_keys_work_in_tasks() {
        let book = parse_ok(concat!(
            "- hosts: all\n  vars:\n    common: &common {become: true, tags: [x]}\n",
            "  tasks:\n    - <<: *common\n      command: ls\n",
        ));
        let task = &book.plays[0].tasks[0];
        assert_eq!(task.r#become, Some(true));
        assert_eq!(task.tags, ["x"]);
    }

    // Every error message, as the user sees it.

    #[test]
    fn error_not_found() {
        let err = Playbook::load(Path::new("playbooks/nope.yml"), &MODULES).unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"playbook not found: playbooks/nope.yml; check the path");
    }

    #[test]
    fn error_malformed_yaml() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  tasks:\n    - command: echo a: b\n"
        ));
    }

    #[test]
    fn error_two_documents() {
        insta::assert_snapshot!(parse_err("- hosts: all\n---\n- hosts: sparks\n"));
    }

    #[test]
    fn error_tab_indentation() {
        insta::assert_snapshot!(parse_err("- hosts: all\n  tasks:\n\t- command: ls\n"));
    }

    #[test]
    fn error_not_a_list() {
        insta::assert_snapshot!(parse_err("hosts: all\ntasks:\n  - command: ls\n"));
    }

    #[test]
    fn error_empty_playbook() {
        insta::assert_snapshot!(parse_err("# nothing yet\n"));
        assert_eq!(parse_err("[]"), parse_err(""));
    }

    #[test]
    fn error_play_not_a_map() {
        insta::assert_snapshot!(parse_err("- hosts: all\n- sparks\n"));
    }

    #[test]
    fn error_play_without_hosts() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n- name: Connect\n  tasks:\n    - command: ls\n"
        ));
    }

    #[test]
    fn error_unknown_play_key() {
        insta::assert_snapshot!(parse_err("- hosts: all\n  task:\n    - command: ls\n"));
    }

    #[test]
    fn error_unknown_play_key_without_suggestion() {
        insta::assert_snapshot!(parse_err("- hosts: all\n  roles: [common]\n"));
    }

    #[test]
    fn error_task_not_a_map() {
        insta::assert_snapshot!(parse_err(
            "- name: Connect\n  hosts: all\n  tasks:\n    - command ls\n"
        ));
    }

    #[test]
    fn error_unknown_module() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  tasks:\n    - command: ls\n    - name: List\n      comand: ls -l\n"
        ));
    }

    #[test]
    fn error_unknown_task_key_typo() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  tasks:\n    - command: ls\n      registr: out\n"
        ));
    }

    #[test]
    fn error_unknown_task_key_no_suggestion() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  tasks:\n    - command: ls\n      loop: [1, 2]\n"
        ));
    }

    #[test]
    fn error_two_modules() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  tasks:\n    - name: Both\n      command: ls\n      shell: ls | wc -l\n"
        ));
    }

    #[test]
    fn error_no_module() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  tasks:\n    - name: Nothing to do\n      when: true\n"
        ));
    }

    #[test]
    fn error_wrong_types() {
        let cases = [
            "- hosts: all\n  tasks:\n    - command: ls\n      ignore_errors: maybe\n",
            "- hosts: all\n  become: [true]\n",
            "- hosts: all\n  vars: [a, b]\n",
            "- hosts: {all: true}\n",
            "- hosts: all\n  tasks:\n    command: ls\n",
            "- hosts: all\n  tasks:\n    - command: [ls, -l]\n",
            "- hosts: all\n  tasks:\n    - command: ls\n      when: {a: 1}\n",
            "- hosts: all\n  tasks:\n    - command: ls\n      notify: [ok, {a: 1}]\n",
            "- hosts: all\n  tasks:\n    - command: ls\n      register: [x]\n",
            "- hosts: all\n  tasks:\n    - name: [x]\n      command: ls\n",
            "- hosts: all\n  tasks:\n    - command: ls\n      run_once: \"{{ once }}\"\n",
        ];
        let messages: Vec<String> = cases.iter().map(|c| parse_err(c)).collect();
        insta::assert_snapshot!(messages.join("\n"));
    }

    #[test]
    fn error_bad_register() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  tasks:\n    - command: ls\n      register: 1st-result\n"
        ));
    }

    #[test]
    fn error_handler_without_name() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  handlers:\n    - command: netplan apply\n"
        ));
    }

    #[test]
    fn error_duplicate_handler() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  handlers:\n    - name: apply\n      command: a\n    - name: apply\n      command: b\n"
        ));
    }

    #[test]
    fn error_notify_unknown_handler() {
        insta::assert_snapshot!(parse_err(concat!(
            "- name: Connect\n  hosts: all\n  tasks:\n",
            "    - name: Write netplan\n      copy: {src: a, dest: b}\n",
            "      notify:\n        - apply netplan\n        - restart netplan\n",
            "  handlers:\n    - name: apply netplan\n      netplan_apply:\n",
            "    - name: reboot\n      command: reboot\n",
        )));
    }

    #[test]
    fn error_notify_without_handlers() {
        insta::assert_snapshot!(parse_err(
            "- hosts: all\n  tasks:\n    - command: ls\n      notify: apply\n"
        ));
    }
}

/// The parser must answer every input with a playbook or an error.
#[cfg(test)]
mod robustness {
    use super::*;
    use crate::inventory::yaml::arbitrary;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use serde_yaml::Value;

    const KEYS: &[&str] = &[
        "name",
        "hosts",
        "vars",
        "become",
        "gather_facts",
        "tasks",
        "handlers",
        "when",
        "register",
        "changed_when",
        "failed_when",
        "ignore_errors",
        "check_mode",
        "notify",
        "tags",
        "run_once",
        "command",
        "comand",
        "ansible.builtin.copy",
        "debug",
        "apply",
        "<<",
    ];

    const MODULES: &[&str] = &["command", "copy", "debug"];
    const WORDS: &[&str] = &[
        "all", "sparks", "apply", "check", "x", "rc == 0", "1bad", "yes", "maybe", "ls -l", "",
    ];
    const TASK_FIELDS: &[&str] = &[
        "when",
        "register",
        "become",
        "changed_when",
        "failed_when",
        "ignore_errors",
        "check_mode",
        "notify",
        "tags",
        "run_once",
        "vars",
        "loop",
    ];

    fn field_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => arbitrary::scalar(WORDS),
            2 => prop::collection::vec(arbitrary::scalar(WORDS), 0..3).prop_map(Value::Sequence),
            1 => Just(arbitrary::map(vec![("a", Value::from(1))])),
        ]
    }

    /// A value of the right type for a task field.
    fn good_value(field: &str) -> BoxedStrategy<Value> {
        match field {
            "when" | "changed_when" | "failed_when" => Just(arbitrary::text("rc == 0")).boxed(),
            "register" => prop::sample::select(&["out", "out", "1bad"][..])
                .prop_map(arbitrary::text)
                .boxed(),
            "become" | "ignore_errors" | "check_mode" | "run_once" => {
                any::<bool>().prop_map(Value::Bool).boxed()
            }
            "notify" => prop::sample::select(&["apply", "check", "x"][..])
                .prop_map(arbitrary::text)
                .boxed(),
            "vars" => Just(arbitrary::map(vec![("a", Value::from(1))])).boxed(),
            _ => Just(arbitrary::text("x")).boxed(),
        }
    }

    fn task() -> impl Strategy<Value = Value> {
        let args = prop_oneof![
            Just(Value::Null),
            Just(arbitrary::text("ls -l")),
            Just(arbitrary::map(vec![
                ("src", arbitrary::text("a")),
                ("dest", arbitrary::text("b"))
            ])),
            Just(Value::Sequence(vec![])),
        ];
        let modules = prop_oneof![
            8 => prop::sample::select(MODULES).prop_map(|m| vec![m]),
            1 => Just(vec!["command", "copy"]),
            1 => Just(vec![]),
            1 => Just(vec!["comand"]),
        ];
        (
            prop::option::weighted(0.6, arbitrary::scalar(WORDS)),
            modules,
            args,
            prop::collection::vec(
                prop::sample::select(TASK_FIELDS).prop_flat_map(|f| {
                    (Just(f), prop_oneof![4 => good_value(f), 1 => field_value()])
                }),
                0..4,
            ),
        )
            .prop_map(|(name, modules, args, fields)| {
                let mut entries: Vec<(&str, Value)> = Vec::new();
                entries.extend(name.map(|n| ("name", n)));
                entries.extend(modules.into_iter().map(|m| (m, args.clone())));
                entries.extend(fields);
                arbitrary::map(entries)
            })
    }

    /// Playbooks of the right shape with mistakes sprinkled in.
    fn playbook() -> impl Strategy<Value = String> {
        let play = (
            prop::option::weighted(0.9, arbitrary::scalar(WORDS)),
            prop::option::weighted(0.5, arbitrary::scalar(WORDS)),
            prop::option::weighted(0.3, field_value()),
            prop::option::weighted(0.3, arbitrary::scalar(WORDS)),
            prop::collection::vec(task(), 0..4),
            prop::collection::vec(task(), 0..3),
            prop::option::weighted(0.05, arbitrary::scalar(WORDS)),
        )
            .prop_map(|(hosts, name, vars, become_, tasks, handlers, typo)| {
                let mut entries: Vec<(&str, Value)> = Vec::new();
                entries.extend(hosts.map(|h| ("hosts", h)));
                entries.extend(name.map(|n| ("name", n)));
                entries.extend(vars.map(|v| ("vars", v)));
                entries.extend(become_.map(|b| ("become", b)));
                entries.push(("tasks", Value::Sequence(tasks)));
                entries.push(("handlers", Value::Sequence(handlers)));
                entries.extend(typo.map(|t| ("task", t)));
                arbitrary::map(entries)
            });
        prop::collection::vec(play, 0..3)
            .prop_map(|plays| arbitrary::render(&Value::Sequence(plays)))
    }

    fn exercise(text: &str) {
        let _ = Playbook::parse(Path::new("fuzz.yml"), text, MODULES);
    }

    proptest! {
        // 4 x 2000 cases.
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn generated_playbooks_never_panic(text in playbook()) {
            exercise(&text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            exercise(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn arbitrary_yaml_never_panics(text in arbitrary::document(KEYS)) {
            exercise(&text);
        }

        #[test]
        fn arbitrary_lines_never_panic(text in arbitrary::lines(KEYS)) {
            exercise(&text);
        }
    }

    #[test]
    fn generated_playbooks_reach_deep_checks() {
        // The generator is only useful if it gets past the early checks.
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = playbook();
        let mut seen = std::collections::BTreeSet::new();
        let mut ok = 0;
        for _ in 0..1000 {
            let Ok(tree) = strategy.new_tree(&mut runner) else {
                continue;
            };
            match Playbook::parse(Path::new("f.yml"), &tree.current(), MODULES) {
                Ok(_) => ok += 1,
                Err(err) => {
                    let variant = format!("{err:?}");
                    seen.insert(variant.split([' ', '{']).next().unwrap_or("").to_string());
                }
            }
        }
        assert!(ok > 10, "{ok} parsed");
        for variant in [
            "UnknownHandler",
            "WrongType",
            "TwoModules",
            "NoModule",
            "BadRegister",
        ] {
            assert!(seen.contains(variant), "{variant} never produced: {seen:?}");
        }
    }
}
