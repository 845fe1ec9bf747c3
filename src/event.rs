//! The contract between the executor and the reporter: the executor emits
//! [`Event`]s as work happens and never prints; the reporter turns them into
//! live lines, the recap table or the `--json` document.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::vars::Vars;

/// How one task ended on one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Unreachable => "unreachable",
        }
    }
}

/// One host's result for one task.
#[derive(Clone, Debug, Serialize)]
pub struct TaskResult {
    pub status: Status,
    /// What happened, in a line: the reason for a failure, the change made.
    pub msg: String,
    /// A failure that `ignore_errors` turned into a non-fatal result.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// Unified diff of what changed (diff mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The module's data (what `register` stores): rc, stdout, and so on.
    pub data: Vars,
}

impl TaskResult {
    pub fn new(status: Status, msg: impl Into<String>) -> Self {
        Self {
            status,
            msg: msg.into(),
            ignored: false,
            diff: None,
            data: Vars::new(),
        }
    }
}

/// Per-host totals for the recap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Tasks that succeeded without changing anything.
    pub ok: u32,
    pub changed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub unreachable: u32,
    /// Failures forgiven by `ignore_errors` (also counted in `failed`: no).
    pub ignored: u32,
}

impl Counts {
    pub fn add(&mut self, result: &TaskResult) {
        if result.ignored {
            self.ignored += 1;
            return;
        }
        match result.status {
            Status::Ok => self.ok += 1,
            Status::Changed => self.changed += 1,
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Unreachable => self.unreachable += 1,
        }
    }
}

/// The end-of-run summary, host by host, in inventory order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Recap {
    pub hosts: BTreeMap<String, Counts>,
}

impl Recap {
    pub fn any_failed(&self) -> bool {
        self.hosts.values().any(|c| c.failed > 0)
    }
    pub fn any_unreachable(&self) -> bool {
        self.hosts.values().any(|c| c.unreachable > 0)
    }
}

/// Something the executor did, in the order it happened.
#[derive(Clone, Debug)]
pub enum Event {
    PlayStart {
        name: String,
        hosts: Vec<String>,
    },
    TaskStart {
        name: String,
        hosts: usize,
        handler: bool,
    },
    /// A connection to the host is open.
    Connected {
        host: String,
    },
    HostResult {
        host: String,
        task: String,
        result: TaskResult,
    },
    Warning {
        host: Option<String>,
        message: String,
    },
    Finished {
        recap: Recap,
    },
}

/// Where events go. Implemented by the reporter; called from any task.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}
