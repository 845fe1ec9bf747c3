//! Runs the real `sparklink` binary and reads what it printed.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// What a run of sparklink left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// `recap.hosts.HOST.FIELD` of the JSON document.
    pub fn recap(&self, host: &str, field: &str) -> u64 {
        self.json()["recap"]["hosts"][host][field]
            .as_u64()
            .unwrap_or_else(|| panic!("no recap.{host}.{field} in:\n{}", self.stdout))
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs sparklink with `args`; `password` goes into SPARKLINK_BECOME_PASSWORD.
pub fn sparklink(args: &[&str], password: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sparklink"));
    command
        .args(args)
        .stdin(Stdio::null())
        .env_remove("SPARKLINK_BECOME_PASSWORD")
        .env_remove("SPARKLINK_INVENTORY");
    if let Some(password) = password {
        command.env("SPARKLINK_BECOME_PASSWORD", password);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("sparklink runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The shipped test playbook `name` under tests/playbooks/.
pub fn playbook(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/playbooks")
        .join(name)
        .display()
        .to_string()
}
