//! `command` (an argv, no shell) and `shell` (a script for `sh -c`).

use serde::Deserialize;

use super::{command_data, parse, Context, ModuleError, Outcome};

/// What to run.
pub struct Args {
    argv: Vec<String>,
    stdin: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    cmd: Option<String>,
    argv: Option<Vec<String>>,
    stdin: Option<String>,
    chdir: Option<String>,
}

impl Args {
    /// `command: ls -l`, `shell: echo $HOME`, or a map with `cmd` or `argv`,
    /// and optional `stdin` and `chdir`.
    pub fn from_value(
        module: &str,
        value: &serde_json::Value,
        shell: bool,
    ) -> Result<Args, ModuleError> {
        let raw = match value {
            serde_json::Value::String(cmd) => Raw {
                cmd: Some(cmd.clone()),
                argv: None,
                stdin: None,
                chdir: None,
            },
            other => parse(module, other)?,
        };
        let bad = |detail: &str| ModuleError::Args {
            module: module.to_owned(),
            detail: detail.to_owned(),
        };
        let mut argv = match (raw.cmd, raw.argv, shell) {
            (Some(_), Some(_), _) => return Err(bad("give `cmd` or `argv`, not both")),
            (Some(cmd), None, true) => vec!["sh".to_owned(), "-c".to_owned(), cmd],
            (Some(cmd), None, false) => {
                shlex::split(&cmd).ok_or_else(|| bad("unbalanced quotes in the command line"))?
            }
            (None, Some(_), true) => {
                return Err(bad("`shell` takes a script in `cmd`, not `argv`"))
            }
            (None, Some(argv), false) => argv,
            (None, None, _) => {
                return Err(bad(
                    "nothing to run: give the command line, or `cmd`/`argv`",
                ))
            }
        };
        if argv.is_empty() {
            return Err(bad("the command is empty"));
        }
        if let Some(dir) = raw.chdir {
            let mut wrapped = vec![
                "sh".to_owned(),
                "-c".to_owned(),
                r#"cd -- "$1" && shift && exec "$@""#.to_owned(),
                "sparklink-chdir".to_owned(),
                dir,
            ];
            wrapped.append(&mut argv);
            argv = wrapped;
        }
        Ok(Args {
            argv,
            stdin: raw.stdin,
        })
    }
}

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    if ctx.check {
        return Ok(Outcome {
            skipped: true,
            msg: "skipped in check mode (set `check_mode: false` on the task if it only reads)"
                .to_owned(),
            ..Outcome::default()
        });
    }
    let out = ctx
        .remote
        .run(args.argv, args.stdin.map(String::into_bytes), ctx.as_root)
        .await?;
    let data = command_data(&out);
    let failed = !out.success();
    let msg = if failed {
        let stderr = out.stderr_text();
        let last = stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        match out.status {
            Some(rc) => format!(
                "exit code {rc}{}{last}",
                if last.is_empty() { "" } else { ": " }
            ),
            None => "killed by a signal".to_owned(),
        }
    } else {
        String::new()
    };
    Ok(Outcome {
        changed: true,
        failed,
        msg,
        data,
        ..Outcome::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_form_command_is_split_like_a_shell_would() {
        let a = Args::from_value("command", &json!("ls -l 'a b'"), false).unwrap();
        assert_eq!(a.argv, vec!["ls", "-l", "a b"]);
    }

    #[test]
    fn shell_runs_through_sh() {
        let a = Args::from_value("shell", &json!("echo $HOME | wc -c"), true).unwrap();
        assert_eq!(a.argv, vec!["sh", "-c", "echo $HOME | wc -c"]);
    }

    #[test]
    fn map_form_with_argv_and_chdir() {
        let a = Args::from_value(
            "command",
            &json!({"argv": ["ls", "x; rm -rf /"], "chdir": "/tmp"}),
            false,
        )
        .unwrap();
        assert_eq!(
            a.argv[..5],
            [
                "sh",
                "-c",
                r#"cd -- "$1" && shift && exec "$@""#,
                "sparklink-chdir",
                "/tmp"
            ]
        );
        assert_eq!(a.argv[5..], ["ls", "x; rm -rf /"]);
    }

    #[test]
    fn bad_arguments_are_named() {
        let e = Args::from_value("command", &json!({"cmnd": "ls"}), false)
            .err()
            .unwrap();
        insta::assert_snapshot!(e.to_string(), @"bad arguments for `command`: unknown field `cmnd`, expected one of `cmd`, `argv`, `stdin`, `chdir`");
        let e = Args::from_value("command", &json!("echo 'oops"), false)
            .err()
            .unwrap();
        insta::assert_snapshot!(e.to_string(), @"bad arguments for `command`: unbalanced quotes in the command line");
    }
}
