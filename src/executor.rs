//! The executor: runs a playbook's plays over their hosts, Ansible's linear
//! strategy. A task runs on all its hosts at once (at most `forks` at a
//! time), then the next task starts, so a task can read what the previous
//! one registered on any host (`hostvars`). A failed or unreachable host
//! stops there; the others go on. It reports through [`EventSink`] only.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::event::{Event, EventSink, Status, TaskResult};
use crate::inventory::Inventory;
use crate::modules::{self, ModuleError};
use crate::playbook::{Play, Task};
use crate::sudo::{BecomeError, Remote, Secret};
use crate::template::Templates;
use crate::transport::{Connector, TransportError};
use crate::vars::{overlay, Vars};

/// How to run: everything the command line decided.
#[derive(Debug, Default)]
pub struct Settings {
    pub check: bool,
    pub diff: bool,
    /// Hosts worked on at once.
    pub forks: usize,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    /// `-e` variables: above everything else.
    pub extra_vars: Vars,
    pub become_password: Option<Secret>,
    pub command_timeout: Duration,
    /// Folder of the playbook: `src:` paths are relative to it.
    pub base_dir: PathBuf,
}

/// A play with the hosts it runs on, resolved before any connection.
pub struct PlannedPlay<'a> {
    pub play: &'a Play,
    pub hosts: Vec<String>,
}

/// Open connections, kept outside the run so they can be closed even when
/// the run is cancelled (Ctrl-C) midway.
#[derive(Default)]
pub struct Pool {
    remotes: Mutex<HashMap<String, Arc<Remote>>>,
}

impl Pool {
    fn get(&self, host: &str) -> Option<Arc<Remote>> {
        self.lock().get(host).cloned()
    }
    fn insert(&self, host: String, remote: Remote) {
        self.lock().insert(host, Arc::new(remote));
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Remote>>> {
        self.remotes.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Closes every connection; returns the errors closing reported.
    pub async fn close_all(&self) -> Vec<TransportError> {
        let remotes: Vec<Arc<Remote>> = self.lock().drain().map(|(_, r)| r).collect();
        let closing = remotes.into_iter().filter_map(|remote| {
            Arc::try_unwrap(remote)
                .ok()
                .map(|remote| async move { remote.close().await.err() })
        });
        futures::future::join_all(closing)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

/// Per-host state across the run.
#[derive(Default)]
struct HostState {
    /// Facts and registered results: they outlive the play.
    facts: Vars,
    /// Inventory and play variables, rendered for this host at play start.
    play_vars: Vars,
    /// Set once the host failed or became unreachable: it does nothing more.
    dead: bool,
}

/// Runs plays.
pub struct Executor<'a> {
    settings: &'a Settings,
    inventory: &'a Inventory,
    connector: &'a dyn Connector,
    events: &'a dyn EventSink,
    templates: &'a Templates,
    pool: &'a Pool,
    hosts: BTreeMap<String, HostState>,
}

/// What one host's run of one task produced, applied after all hosts finish.
struct HostOutcome {
    host: String,
    result: TaskResult,
    facts: Vars,
    notify: bool,
}

impl<'a> Executor<'a> {
    pub fn new(
        settings: &'a Settings,
        inventory: &'a Inventory,
        connector: &'a dyn Connector,
        events: &'a dyn EventSink,
        templates: &'a Templates,
        pool: &'a Pool,
    ) -> Self {
        Self {
            settings,
            inventory,
            connector,
            events,
            templates,
            pool,
            hosts: BTreeMap::new(),
        }
    }

    /// Runs every play in order.
    pub async fn run(&mut self, plays: &[PlannedPlay<'_>]) {
        for planned in plays {
            self.run_play(planned.play, &planned.hosts).await;
        }
    }

    async fn run_play(&mut self, play: &Play, hosts: &[String]) {
        self.events.emit(Event::PlayStart {
            name: play.name.clone(),
            hosts: hosts.to_vec(),
        });
        for host in hosts {
            self.hosts.entry(host.clone()).or_default();
        }
        self.connect(hosts).await;
        self.render_play_vars(play, hosts);
        let needs_root = play.r#become
            || play
                .tasks
                .iter()
                .chain(&play.handlers)
                .any(|t| t.r#become == Some(true));
        if needs_root {
            self.prepare_become(hosts).await;
        }
        if play.gather_facts {
            let gather = facts_task(play);
            self.run_task(play, &gather, hosts, false).await;
        }
        let mut notified: HashMap<String, Vec<String>> = HashMap::new();
        for task in &play.tasks {
            if !self.selected_by_tags(task) {
                continue;
            }
            if self.live(hosts).is_empty() {
                break;
            }
            for (host, handlers) in self.run_task(play, task, hosts, false).await {
                for handler in handlers {
                    let list = notified.entry(handler).or_default();
                    if !list.contains(&host) {
                        list.push(host.clone());
                    }
                }
            }
        }
        for handler in &play.handlers {
            if let Some(targets) = notified.get(&handler.name) {
                let ordered: Vec<String> = hosts
                    .iter()
                    .filter(|h| targets.contains(h))
                    .cloned()
                    .collect();
                self.run_task(play, handler, &ordered, true).await;
            }
        }
    }

    fn live(&self, hosts: &[String]) -> Vec<String> {
        hosts
            .iter()
            .filter(|h| self.hosts.get(*h).is_some_and(|s| !s.dead))
            .cloned()
            .collect()
    }

    fn selected_by_tags(&self, task: &Task) -> bool {
        let has = |list: &[String]| task.tags.iter().any(|t| list.contains(t));
        if has(&self.settings.skip_tags) {
            return false;
        }
        self.settings.tags.is_empty()
            || self.settings.tags.iter().any(|t| t == "all")
            || task.tags.iter().any(|t| t == "always")
            || has(&self.settings.tags)
    }

    /// Opens a connection to every host that has none yet.
    async fn connect(&mut self, hosts: &[String]) {
        let missing: Vec<String> = self
            .live(hosts)
            .into_iter()
            .filter(|h| self.pool.get(h).is_none())
            .collect();
        if missing.is_empty() {
            return;
        }
        self.events.emit(Event::TaskStart {
            name: "connect".to_owned(),
            hosts: missing.len(),
            handler: false,
        });
        let this = &*self;
        let owner = lock_owner();
        let owner = owner.as_str();
        type Refusal = Option<(Status, String)>;
        let results: Vec<(String, Option<Remote>, Refusal)> = stream::iter(missing)
            .map(|host| async move {
                let (settings, events) = (this.settings, this.events);
                let result = match this.inventory.host(&host) {
                    Some(entry) => {
                        let connection = entry.connection();
                        this.connector
                            .connect(&host, &connection)
                            .await
                            .map(|transport| {
                                Remote::new(
                                    host.clone(),
                                    transport,
                                    settings.become_password.clone(),
                                    settings.command_timeout,
                                )
                            })
                    }
                    None => Err(TransportError::Unreachable {
                        host: host.clone(),
                        detail: "not in the inventory".to_owned(),
                    }),
                };
                events.emit(match &result {
                    Ok(_) => Event::Connected { host: host.clone() },
                    Err(e) => Event::HostResult {
                        host: host.clone(),
                        task: "connect".to_owned(),
                        result: TaskResult::new(Status::Unreachable, e.to_string()),
                    },
                });
                let Ok(remote) = result else {
                    return (host, None, None);
                };
                // The lock at once, while other hosts may still be connecting.
                let refusal = match remote.lock(owner).await {
                    Ok(None) => None,
                    Ok(Some(holder)) => Some((
                        Status::Failed,
                        format!("another sparklink run is working on {host} ({holder}): wait for it to finish, then retry"),
                    )),
                    Err(e) if e.is_unreachable() => Some((Status::Unreachable, e.to_string())),
                    Err(e) => Some((Status::Failed, e.to_string())),
                };
                (host, Some(remote), refusal)
            })
            .buffer_unordered(self.settings.forks.max(1))
            .collect()
            .await;
        for (host, remote, refusal) in results {
            let Some(remote) = remote else {
                self.kill(&host);
                continue;
            };
            self.pool.insert(host.clone(), remote);
            if let Some((status, message)) = refusal {
                self.events.emit(Event::HostResult {
                    host: host.clone(),
                    task: "lock".to_owned(),
                    result: TaskResult::new(status, message),
                });
                self.kill(&host);
            }
        }
    }

    /// Checks sudo on every host before the first change.
    async fn prepare_become(&mut self, hosts: &[String]) {
        let live = self.live(hosts);
        let this = &*self;
        let results: Vec<(String, Result<(), BecomeError>)> = stream::iter(live)
            .map(|host| async move {
                let Some(remote) = this.pool.get(&host) else {
                    return (host, Ok(()));
                };
                let user = this
                    .inventory
                    .host(&host)
                    .and_then(|h| h.connection().user)
                    .unwrap_or_else(|| "the login user".to_owned());
                (host.clone(), remote.prepare_become(&user).await)
            })
            .buffer_unordered(self.settings.forks.max(1))
            .collect()
            .await;
        for (host, result) in results {
            if let Err(error) = result {
                let status = match &error {
                    BecomeError::Transport(e) if e.is_unreachable() => Status::Unreachable,
                    _ => Status::Failed,
                };
                self.events.emit(Event::HostResult {
                    host: host.clone(),
                    task: "sudo".to_owned(),
                    result: TaskResult::new(status, error.to_string()),
                });
                self.kill(&host);
            }
        }
    }

    fn kill(&mut self, host: &str) {
        if let Some(state) = self.hosts.get_mut(host) {
            state.dead = true;
        }
    }

    /// Renders inventory and play variables for each host, in order, so a
    /// play var can use inventory vars and the play vars before it.
    fn render_play_vars(&mut self, play: &Play, hosts: &[String]) {
        for host in hosts {
            let Some(entry) = self.inventory.host(host) else {
                continue;
            };
            let mut view = entry.vars.clone();
            overlay(&mut view, &self.settings.extra_vars);
            let mut rendered = Vars::new();
            let origin = format!("the vars of play '{}'", play.name);
            let mut problem = None;
            for (key, value) in entry.vars.iter().chain(play.vars.iter()) {
                match self.templates.render_value(&origin, value, &view) {
                    Ok(v) => {
                        view.insert(key.clone(), v.clone());
                        rendered.insert(key.clone(), v);
                    }
                    Err(e) => {
                        problem.get_or_insert(e.to_string());
                        rendered.insert(key.clone(), value.clone());
                    }
                }
            }
            if let Some(message) = problem {
                self.events.emit(Event::Warning {
                    host: Some(host.clone()),
                    message,
                });
            }
            if let Some(state) = self.hosts.get_mut(host) {
                state.play_vars = rendered;
            }
        }
    }

    /// A host's variables as a task sees them: inventory < play vars <
    /// task vars < facts and registered results < extra vars.
    fn view(&self, host: &str, task: &Task, live: &[String], all: &[String]) -> Vars {
        let mut vars = self.base_view(host);
        let hostvars: serde_json::Map<String, Value> = self
            .hosts
            .keys()
            .map(|h| (h.clone(), Value::Object(self.base_view(h))))
            .collect();
        if !task.vars.is_empty() {
            let mut with_task = self
                .hosts
                .get(host)
                .map(|s| s.play_vars.clone())
                .unwrap_or_default();
            overlay(&mut with_task, &task.vars);
            if let Some(state) = self.hosts.get(host) {
                overlay(&mut with_task, &state.facts);
            }
            overlay(&mut with_task, &self.settings.extra_vars);
            vars = with_task;
        }
        vars.insert("hostvars".into(), Value::Object(hostvars));
        vars.insert("groups".into(), self.groups());
        vars.insert(
            "ansible_play_hosts".into(),
            live.iter().map(|h| Value::from(h.clone())).collect(),
        );
        vars.insert(
            "ansible_play_hosts_all".into(),
            all.iter().map(|h| Value::from(h.clone())).collect(),
        );
        vars.insert("inventory_hostname".into(), host.into());
        vars.insert("ansible_check_mode".into(), self.settings.check.into());
        vars
    }

    fn base_view(&self, host: &str) -> Vars {
        let mut vars = Vars::new();
        if let Some(state) = self.hosts.get(host) {
            vars = state.play_vars.clone();
            overlay(&mut vars, &state.facts);
        }
        overlay(&mut vars, &self.settings.extra_vars);
        vars
    }

    fn groups(&self) -> Value {
        let mut groups = serde_json::Map::new();
        for host in self.inventory.hosts() {
            for group in &host.groups {
                let entry = groups
                    .entry(group.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = entry {
                    list.push(host.name.clone().into());
                }
            }
        }
        Value::Object(groups)
    }

    /// Runs `task` on the live hosts; returns, per host, the handlers it notified.
    async fn run_task(
        &mut self,
        play: &Play,
        task: &Task,
        hosts: &[String],
        handler: bool,
    ) -> Vec<(String, Vec<String>)> {
        let live = self.live(hosts);
        if live.is_empty() {
            return Vec::new();
        }
        let runners: Vec<String> = if task.run_once {
            live[..1].to_vec()
        } else {
            live.clone()
        };
        self.events.emit(Event::TaskStart {
            name: task.name.clone(),
            hosts: runners.len(),
            handler,
        });
        let views: Vec<(String, Vars)> = runners
            .iter()
            .map(|h| (h.clone(), self.view(h, task, &live, hosts)))
            .collect();
        let this = &*self;
        let mut outcomes: Vec<HostOutcome> = stream::iter(views)
            .map(|(host, vars)| async move {
                let outcome = this.run_on_host(play, task, &host, vars).await;
                this.events.emit(Event::HostResult {
                    host: host.clone(),
                    task: task.name.clone(),
                    result: outcome.result.clone(),
                });
                outcome
            })
            .buffer_unordered(self.settings.forks.max(1))
            .collect()
            .await;
        if task.run_once {
            if let Some(first) = outcomes.first() {
                let copies: Vec<HostOutcome> = live[1..]
                    .iter()
                    .map(|h| HostOutcome {
                        host: h.clone(),
                        result: first.result.clone(),
                        facts: first.facts.clone(),
                        notify: first.notify,
                    })
                    .collect();
                outcomes.extend(copies);
            }
        }
        let mut notified = Vec::new();
        for outcome in outcomes {
            let dead = matches!(outcome.result.status, Status::Failed | Status::Unreachable)
                && !outcome.result.ignored;
            if let Some(state) = self.hosts.get_mut(&outcome.host) {
                overlay(&mut state.facts, &outcome.facts);
                state.dead |= dead;
            }
            if outcome.notify && !task.notify.is_empty() {
                notified.push((outcome.host, task.notify.clone()));
            }
        }
        notified
    }

    async fn run_on_host(
        &self,
        play: &Play,
        task: &Task,
        host: &str,
        mut vars: Vars,
    ) -> HostOutcome {
        let origin = format!("task '{}'", task.name);
        let mut facts = Vars::new();
        let fail = |status: Status, msg: String| HostOutcome {
            host: host.to_owned(),
            result: TaskResult {
                ignored: task.ignore_errors && status == Status::Failed,
                ..TaskResult::new(status, msg)
            },
            facts: Vars::new(),
            notify: false,
        };
        for condition in &task.when {
            match self
                .templates
                .is_true(&format!("the `when` of {origin}"), condition, &vars)
            {
                Ok(true) => {}
                Ok(false) => {
                    let mut result = TaskResult::new(Status::Skipped, format!("when: {condition}"));
                    result.data.insert("skipped".into(), true.into());
                    if let Some(name) = &task.register {
                        facts.insert(name.clone(), Value::Object(result.data.clone()));
                    }
                    return HostOutcome {
                        host: host.to_owned(),
                        result,
                        facts,
                        notify: false,
                    };
                }
                Err(e) => return fail(Status::Failed, e.to_string()),
            }
        }
        let args = match self.templates.render_value(&origin, &task.args, &vars) {
            Ok(args) => args,
            Err(e) => return fail(Status::Failed, e.to_string()),
        };
        let Some(remote) = self.pool.get(host) else {
            return fail(Status::Unreachable, format!("{host} has no connection"));
        };
        let ctx = modules::Context {
            remote: &remote,
            as_root: task.r#become.unwrap_or(play.r#become),
            check: task.check_mode.unwrap_or(self.settings.check),
            diff: self.settings.diff,
            templates: self.templates,
            vars: &vars,
            base_dir: self.settings.base_dir.clone(),
            connector: self.connector,
            connection: self
                .inventory
                .host(host)
                .map(|h| h.connection())
                .unwrap_or_default(),
            user: self
                .inventory
                .host(host)
                .and_then(|h| h.connection().user)
                .unwrap_or_else(|| "the login user".to_owned()),
        };
        let outcome = match modules::run(&task.module, &args, &ctx).await {
            Ok(outcome) => outcome,
            Err(ModuleError::Transport(e)) if e.is_unreachable() => {
                return fail(Status::Unreachable, e.to_string())
            }
            Err(e) => return fail(Status::Failed, e.to_string()),
        };
        for message in &outcome.warnings {
            self.events.emit(Event::Warning {
                host: Some(host.to_owned()),
                message: message.clone(),
            });
        }
        let mut data = outcome.data;
        data.insert("changed".into(), outcome.changed.into());
        data.insert("failed".into(), outcome.failed.into());
        data.insert("skipped".into(), outcome.skipped.into());
        data.insert("msg".into(), outcome.msg.clone().into());
        let mut changed = outcome.changed;
        let mut failed = outcome.failed;
        let mut msg = outcome.msg;
        if let Some(name) = &task.register {
            vars.insert(name.clone(), Value::Object(data.clone()));
        }
        if let Some(expr) = &task.changed_when {
            match self
                .templates
                .is_true(&format!("the `changed_when` of {origin}"), expr, &vars)
            {
                Ok(value) => changed = value,
                Err(e) => return fail(Status::Failed, e.to_string()),
            }
        }
        if let Some(expr) = &task.failed_when {
            match self
                .templates
                .is_true(&format!("the `failed_when` of {origin}"), expr, &vars)
            {
                Ok(value) => {
                    if value && !failed {
                        msg = format!("failed_when: {expr}");
                    }
                    failed = value;
                }
                Err(e) => return fail(Status::Failed, e.to_string()),
            }
        }
        data.insert("changed".into(), changed.into());
        data.insert("failed".into(), failed.into());
        let status = if failed {
            Status::Failed
        } else if outcome.skipped {
            Status::Skipped
        } else if changed {
            Status::Changed
        } else {
            Status::Ok
        };
        overlay(&mut facts, &outcome.facts);
        if let Some(name) = &task.register {
            facts.insert(name.clone(), Value::Object(data.clone()));
        }
        HostOutcome {
            host: host.to_owned(),
            result: TaskResult {
                status,
                msg,
                ignored: failed && task.ignore_errors,
                diff: outcome.diff,
                data,
            },
            facts,
            notify: status == Status::Changed,
        }
    }
}

/// Who holds a node's lock, for the message a second run shows.
fn lock_owner() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(login_name)
        .unwrap_or_else(|| "someone".to_owned());
    let machine = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (h, m, s) = (now / 3600 % 24, now / 60 % 60, now % 60);
    format!(
        "{user}@{} pid {} since {h:02}:{m:02}:{s:02} UTC",
        machine.trim(),
        std::process::id()
    )
}

/// This process's user name from /etc/passwd, when USER and LOGNAME are unset.
fn login_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

/// The implicit first task of a play with `gather_facts: true`.
fn facts_task(play: &Play) -> Task {
    Task {
        name: "gather facts".to_owned(),
        module: "facts".to_owned(),
        args: Value::Null,
        when: Vec::new(),
        register: None,
        r#become: Some(false),
        changed_when: None,
        failed_when: None,
        ignore_errors: false,
        check_mode: Some(false),
        notify: Vec::new(),
        tags: vec!["always".to_owned()],
        run_once: false,
        vars: Vars::new(),
        location: crate::playbook::Location {
            file: play
                .tasks
                .first()
                .map(|t| t.location.file.clone())
                .unwrap_or_default(),
            play: play.tasks.first().map_or(0, |t| t.location.play),
            play_name: play.name.clone(),
            section: crate::playbook::Section::Tasks,
            index: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_name_is_the_one_id_gives() {
        let id = std::process::Command::new("id")
            .arg("-un")
            .output()
            .expect("id runs");
        let expected = String::from_utf8_lossy(&id.stdout).trim().to_owned();
        assert_eq!(login_name(), Some(expected));
    }

    #[test]
    fn the_lock_owner_names_this_process_and_a_time() {
        let owner = lock_owner();
        assert!(
            owner.contains(&format!(" pid {} since ", std::process::id())),
            "{owner}"
        );
        assert!(owner.ends_with(" UTC"), "{owner}");
    }
}
