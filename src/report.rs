//! The reporter: the only code that writes to the terminal. It turns
//! executor events into live lines (with a spinner on a terminal), the recap
//! table at the end, or one JSON document with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::event::{Counts, Event, EventSink, Recap, Status, TaskResult};

/// How to show the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Live lines and a recap table.
    Human,
    /// Nothing until the end, then one JSON document on stdout.
    Json,
    /// Only failures (on stderr) until the end, then every summary row as
    /// `export NAME=value` lines on stdout, one block per host.
    Shell,
}

/// Collects and shows events.
pub struct Reporter {
    format: Format,
    verbose: bool,
    state: Mutex<State>,
}

#[derive(Default, Serialize)]
struct Document {
    playbook: String,
    plays: Vec<PlayDoc>,
    warnings: Vec<String>,
    recap: Recap,
    /// Tables built by `summary` tasks: title -> host -> column -> value.
    summaries: serde_json::Map<String, serde_json::Value>,
    interrupted: bool,
}

#[derive(Serialize)]
struct PlayDoc {
    name: String,
    hosts: Vec<String>,
    tasks: Vec<TaskDoc>,
}

#[derive(Serialize)]
struct TaskDoc {
    name: String,
    handler: bool,
    results: serde_json::Map<String, serde_json::Value>,
}

#[derive(Default)]
struct State {
    doc: Document,
    spinner: Option<ProgressBar>,
    /// Hosts that finished the current task, out of how many.
    done: usize,
    total: usize,
}

impl Reporter {
    pub fn new(format: Format, verbose: bool, playbook: &str) -> Self {
        let state = State {
            doc: Document {
                playbook: playbook.to_owned(),
                ..Document::default()
            },
            ..State::default()
        };
        Self {
            format,
            verbose,
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recap so far.
    pub fn recap(&self) -> Recap {
        self.lock().doc.recap.clone()
    }

    /// Ends the run: the recap table, or the JSON document.
    pub fn finish(&self, interrupted: bool) {
        let mut state = self.lock();
        if let Some(spinner) = state.spinner.take() {
            spinner.finish_and_clear();
        }
        state.doc.interrupted = interrupted;
        match self.format {
            Format::Json => {
                let text = serde_json::to_string_pretty(&state.doc)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
                println!("{text}");
            }
            Format::Human => {
                if interrupted {
                    eprintln!("interrupted: connections closed; re-run to converge");
                }
                println!("\n{}", recap_table(&state.doc.recap));
                for (title, rows) in &state.doc.summaries {
                    if let serde_json::Value::Object(rows) = rows {
                        println!("\n{title}\n{}", summary_table(rows));
                    }
                }
            }
            Format::Shell => print!("{}", exports(&state.doc.summaries)),
        }
        let _ = std::io::stdout().flush();
    }

    fn line(&self, state: &State, text: &str) {
        if self.format != Format::Human {
            return;
        }
        match &state.spinner {
            Some(spinner) => spinner.println(text),
            None => println!("{text}"),
        }
    }

    fn host_line(&self, state: &State, host: &str, result: &TaskResult) {
        let label = if result.ignored {
            "ignored"
        } else {
            result.status.as_str()
        };
        let mut text = format!("  {label:<11} {host}");
        if !result.msg.is_empty() && (result.status != Status::Ok || self.verbose) {
            text.push_str("  ");
            text.push_str(&result.msg.replace('\n', "\n      "));
        }
        if self.verbose {
            for key in ["stdout", "stderr"] {
                if let Some(serde_json::Value::String(s)) = result.data.get(key) {
                    if !s.is_empty() {
                        text.push_str(&format!("\n      {key}: {}", s.replace('\n', "\n        ")));
                    }
                }
            }
        }
        if let Some(diff) = &result.diff {
            for l in diff.lines() {
                text.push_str("\n      ");
                text.push_str(l);
            }
        }
        if self.format == Format::Shell
            && matches!(result.status, Status::Failed | Status::Unreachable)
            && !result.ignored
        {
            eprintln!("{}", text.trim_start());
        }
        self.line(state, &text);
    }
}

impl EventSink for Reporter {
    fn emit(&self, event: Event) {
        let mut state = self.lock();
        match event {
            Event::PlayStart { name, hosts } => {
                self.line(&state, &format!("\nPLAY [{name}] {}", hosts.join(", ")));
                state.doc.plays.push(PlayDoc {
                    name,
                    hosts,
                    tasks: Vec::new(),
                });
            }
            Event::TaskStart {
                name,
                hosts,
                handler,
            } => {
                let kind = if handler { "HANDLER" } else { "TASK" };
                self.line(&state, &format!("{kind} [{name}]"));
                state.done = 0;
                state.total = hosts;
                if self.format == Format::Human
                    && std::io::stdout().is_terminal()
                    && state.spinner.is_none()
                {
                    let spinner = ProgressBar::new_spinner();
                    spinner.set_style(
                        ProgressStyle::with_template("{spinner} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    spinner.enable_steady_tick(Duration::from_millis(100));
                    state.spinner = Some(spinner);
                }
                if let Some(spinner) = &state.spinner {
                    spinner.set_message(format!("{name} (0/{hosts} hosts)"));
                }
                if let Some(play) = state.doc.plays.last_mut() {
                    play.tasks.push(TaskDoc {
                        name,
                        handler,
                        results: serde_json::Map::new(),
                    });
                }
            }
            Event::Connected { host } => {
                state.doc.recap.hosts.entry(host).or_default();
            }
            Event::HostResult { host, task, result } => {
                self.host_line(&state, &host, &result);
                state.done += 1;
                let (done, total) = (state.done, state.total);
                if let Some(spinner) = &state.spinner {
                    spinner.set_message(format!("{task} ({done}/{total} hosts)"));
                }
                state
                    .doc
                    .recap
                    .hosts
                    .entry(host.clone())
                    .or_default()
                    .add(&result);
                if let Some(serde_json::Value::Object(row)) = result.data.get("summary") {
                    let title = row
                        .get("title")
                        .and_then(|t| t.as_str())
                        .unwrap_or("summary");
                    let columns = row.get("columns").cloned().unwrap_or_default();
                    let table = state
                        .doc
                        .summaries
                        .entry(title.to_owned())
                        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
                    if let serde_json::Value::Object(rows) = table {
                        rows.insert(host.clone(), columns);
                    }
                }
                if let Some(task_doc) = state.doc.plays.last_mut().and_then(|p| p.tasks.last_mut())
                {
                    let value = serde_json::to_value(&result).unwrap_or(serde_json::Value::Null);
                    task_doc.results.insert(host, value);
                }
            }
            Event::Warning { host, message } => {
                let text = match host {
                    Some(host) => format!("warning: {host}: {message}"),
                    None => format!("warning: {message}"),
                };
                match &state.spinner {
                    Some(spinner) => spinner.suspend(|| eprintln!("{text}")),
                    None => eprintln!("{text}"),
                }
                state.doc.warnings.push(text);
            }
            Event::Finished { recap } => {
                state.doc.recap = recap;
            }
        }
    }
}

/// Summary rows as `export` lines: `# title: host`, then one line per
/// column whose name is a valid variable name, values quoted for the shell.
fn exports(summaries: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = String::new();
    for (title, rows) in summaries {
        let serde_json::Value::Object(rows) = rows else {
            continue;
        };
        for (host, columns) in rows {
            out.push_str(&format!("# {title}: {host}\n"));
            let serde_json::Value::Object(columns) = columns else {
                continue;
            };
            for (name, value) in columns {
                let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    continue;
                }
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push_str(&format!(
                    "export {name}={}\n",
                    crate::template::shell_quote(&value)
                ));
            }
        }
    }
    out
}

/// The recap as a table, host by host.
pub fn recap_table(recap: &Recap) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "host",
        "ok",
        "changed",
        "failed",
        "skipped",
        "unreachable",
        "ignored",
    ]);
    for (host, c) in &recap.hosts {
        let Counts {
            ok,
            changed,
            failed,
            skipped,
            unreachable,
            ignored,
        } = *c;
        let mut row = vec![Cell::new(host)];
        for n in [ok, changed, failed, skipped, unreachable, ignored] {
            row.push(Cell::new(n).set_alignment(CellAlignment::Right));
        }
        table.add_row(row);
    }
    table
}

/// A `summary` table: one row per host, columns in first-seen order; with
/// more than four columns, one row per column and one column per host, so
/// it stays readable on a terminal.
pub fn summary_table(rows: &serde_json::Map<String, serde_json::Value>) -> Table {
    let mut columns: Vec<String> = Vec::new();
    for row in rows.values() {
        if let serde_json::Value::Object(cells) = row {
            for key in cells.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let cell = |host: &str, column: &str| match rows.get(host).and_then(|r| r.get(column)) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        Some(serde_json::Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    };
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    if columns.len() > 4 {
        let mut header = vec![String::new()];
        header.extend(rows.keys().cloned());
        table.set_header(header);
        for column in &columns {
            let mut line = vec![column.clone()];
            line.extend(rows.keys().map(|host| cell(host, column)));
            table.add_row(line);
        }
    } else {
        let mut header = vec!["host".to_owned()];
        header.extend(columns.iter().cloned());
        table.set_header(header);
        for host in rows.keys() {
            let mut line = vec![host.clone()];
            line.extend(columns.iter().map(|column| cell(host, column)));
            table.add_row(line);
        }
    }
    table
}

/// Prints an error that ends the run before any host was touched, with its
/// causes, one per line.
pub fn print_error(error: &dyn std::error::Error) {
    eprintln!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recap_table_snapshot() {
        let mut recap = Recap::default();
        recap.hosts.insert(
            "spark-1".into(),
            Counts {
                ok: 5,
                changed: 2,
                ..Counts::default()
            },
        );
        recap.hosts.insert(
            "spark-2".into(),
            Counts {
                unreachable: 1,
                ..Counts::default()
            },
        );
        insta::assert_snapshot!(recap_table(&recap).to_string());
    }

    #[test]
    fn json_document_collects_results() {
        let reporter = Reporter::new(Format::Json, false, "connect.yml");
        reporter.emit(Event::PlayStart {
            name: "p".into(),
            hosts: vec!["a".into()],
        });
        reporter.emit(Event::TaskStart {
            name: "t".into(),
            hosts: 1,
            handler: false,
        });
        reporter.emit(Event::HostResult {
            host: "a".into(),
            task: "t".into(),
            result: TaskResult::new(Status::Changed, "did it"),
        });
        let doc = serde_json::to_value(&reporter.lock().doc).unwrap();
        assert_eq!(
            doc["plays"][0]["tasks"][0]["results"]["a"]["status"],
            "changed"
        );
        assert_eq!(doc["recap"]["hosts"]["a"]["changed"], 1);
    }

    #[test]
    fn shell_format_prints_summaries_as_quoted_exports() {
        let summaries = serde_json::json!({
            "cluster environment": {
                "spark-1": {"NCCL_SOCKET_IFNAME": "enp1s0f1np1", "MASTER_ADDR": "192.168.100.10"},
                "spark-2": {"VLLM_HOST_IP": "a b'c", "not a name": "x", "MTU": 9000}
            }
        });
        let serde_json::Value::Object(summaries) = summaries else {
            unreachable!()
        };
        insta::assert_snapshot!(exports(&summaries), @r"
        # cluster environment: spark-1
        export NCCL_SOCKET_IFNAME=enp1s0f1np1
        export MASTER_ADDR=192.168.100.10
        # cluster environment: spark-2
        export VLLM_HOST_IP='a b'\''c'
        export MTU=9000
        ");
    }
}
