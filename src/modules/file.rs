//! `file`: a path is present (as a file), a directory, or absent, with the
//! mode and owner asked for.

use serde::Deserialize;

use super::{parse_mode, strings, Context, ModuleError, Outcome};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    path: String,
    #[serde(default)]
    state: State,
    mode: Option<serde_json::Value>,
    owner: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum State {
    /// A regular file; created empty if missing.
    #[default]
    Present,
    /// A regular file that must already exist.
    File,
    Directory,
    Absent,
    /// Like present (modification time is left alone when it exists).
    Touch,
}

/// Prints `changed` or `ok`; with $6 set, only looks.
const ENSURE: &str = r#"p=$1 state=$2 mode=$3 owner=$4 group=$5 check=$6 changed=
if [ "$state" = absent ]; then
  if [ -e "$p" ] || [ -L "$p" ]; then changed=1; [ -n "$check" ] || rm -rf -- "$p" || exit 1; fi
  [ -n "$changed" ] && echo changed || echo ok; exit 0
fi
if [ "$state" = directory ]; then
  if [ ! -d "$p" ]; then
    if [ -e "$p" ]; then echo "$p exists and is not a directory" >&2; exit 3; fi
    [ -n "$check" ] && { echo changed; exit 0; }
    mkdir -p -- "$p" || exit 1; changed=1
  fi
else
  if [ ! -e "$p" ]; then
    if [ "$state" = file ]; then echo "$p does not exist (use state: present to create it)" >&2; exit 3; fi
    [ -n "$check" ] && { echo changed; exit 0; }
    : > "$p" || exit 1; changed=1
  elif [ ! -f "$p" ]; then echo "$p exists and is not a regular file" >&2; exit 3
  fi
fi
if [ -n "$mode" ] && [ "$(stat -c %a -- "$p")" != "$mode" ]; then changed=1; [ -n "$check" ] || chmod -- "$mode" "$p" || exit 1; fi
if [ -n "$owner" ] && [ "$(stat -c %U -- "$p")" != "$owner" ]; then changed=1; [ -n "$check" ] || chown -- "$owner" "$p" || exit 1; fi
if [ -n "$group" ] && [ "$(stat -c %G -- "$p")" != "$group" ]; then changed=1; [ -n "$check" ] || chgrp -- "$group" "$p" || exit 1; fi
[ -n "$changed" ] && echo changed || echo ok"#;

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    if !args.path.starts_with('/') {
        return Err(ModuleError::Args {
            module: "file".into(),
            detail: format!("path `{}` must be an absolute path", args.path),
        });
    }
    let mode = args
        .mode
        .as_ref()
        .map(|m| parse_mode("file", m))
        .transpose()?;
    let state = match args.state {
        State::Present | State::Touch => "present",
        State::File => "file",
        State::Directory => "directory",
        State::Absent => "absent",
    };
    let mut argv = strings(&["sh", "-c", ENSURE, "sparklink-file"]);
    argv.extend([
        args.path.clone(),
        state.to_owned(),
        mode.unwrap_or_default(),
        args.owner.unwrap_or_default(),
        args.group.unwrap_or_default(),
        if ctx.check {
            "1".to_owned()
        } else {
            String::new()
        },
    ]);
    let out = ctx.remote.run(argv, None, ctx.as_root).await?;
    if !out.success() {
        return Err(ModuleError::Failed(out.stderr_text().trim().to_owned()));
    }
    let changed = out.stdout_text().trim() == "changed";
    let mut outcome = Outcome {
        changed,
        msg: if changed {
            format!("{}: {state}", args.path)
        } else {
            String::new()
        },
        ..Outcome::default()
    };
    outcome.data.insert("path".into(), args.path.into());
    Ok(outcome)
}
