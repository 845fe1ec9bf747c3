//! `copy` and `template`: put content in a file on the host, atomically
//! (a temporary file in the same folder, renamed over the target, so the old
//! file survives any failure), and only when content, mode or owner differ.

use std::path::Path;

use serde::Deserialize;

use super::{parse_mode, strings, Context, ModuleError, Outcome};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyArgs {
    content: Option<String>,
    src: Option<String>,
    dest: String,
    mode: Option<serde_json::Value>,
    owner: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateArgs {
    src: String,
    dest: String,
    mode: Option<serde_json::Value>,
    owner: Option<String>,
    group: Option<String>,
}

/// The file as wanted.
pub struct Desired<'a> {
    pub module: &'a str,
    pub dest: &'a str,
    pub content: Vec<u8>,
    /// Octal digits, or `None` to keep the file's mode (0644 when new).
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

pub async fn run_copy(args: CopyArgs, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let content = match (args.content, args.src) {
        (Some(content), None) => content.into_bytes(),
        (None, Some(src)) => {
            let path = ctx.base_dir.join(&src);
            std::fs::read(&path).map_err(|e| {
                ModuleError::Failed(format!("cannot read src {}: {e}", path.display()))
            })?
        }
        _ => {
            return Err(ModuleError::Args {
                module: "copy".into(),
                detail: "give exactly one of `content` or `src`".into(),
            })
        }
    };
    let mode = args
        .mode
        .as_ref()
        .map(|m| parse_mode("copy", m))
        .transpose()?;
    ensure(
        Desired {
            module: "copy",
            dest: &args.dest,
            content,
            mode,
            owner: args.owner,
            group: args.group,
        },
        ctx,
    )
    .await
}

pub async fn run_template(args: TemplateArgs, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let rendered = ctx.templates.render_file(&args.src, ctx.vars)?;
    let mode = args
        .mode
        .as_ref()
        .map(|m| parse_mode("template", m))
        .transpose()?;
    ensure(
        Desired {
            module: "template",
            dest: &args.dest,
            content: rendered.into_bytes(),
            mode,
            owner: args.owner,
            group: args.group,
        },
        ctx,
    )
    .await
}

/// What is on the host now.
pub struct Current {
    pub mode: String,
    pub owner: String,
    pub group: String,
    pub content: Vec<u8>,
}

const READ: &str = r#"if [ -f "$1" ]; then stat -c '%a %U %G' -- "$1" && cat -- "$1"; elif [ -e "$1" ]; then echo "$1 exists and is not a regular file" >&2; exit 3; else echo absent; fi"#;

/// Writes stdin to a temporary file beside the target, sets mode and owner,
/// then renames it over the target. Any failure removes the temporary file
/// and leaves the target as it was.
const WRITE: &str = r#"set -e
dest=$1 mode=$2 owner=$3
dir=$(dirname -- "$dest")
tmp=$(mktemp -- "$dir/.sparklink.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
chmod -- "$mode" "$tmp"
if [ -n "$owner" ]; then chown -- "$owner" "$tmp"; fi
mv -f -- "$tmp" "$dest"
trap - EXIT"#;

/// Makes `want` true on the host: the shared core of `copy` and `template`.
pub async fn ensure(want: Desired<'_>, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    if !Path::new(want.dest).is_absolute() {
        return Err(ModuleError::Args {
            module: want.module.into(),
            detail: format!("dest `{}` must be an absolute path", want.dest),
        });
    }
    let current = read(want.dest, ctx).await?;
    let mut reasons = Vec::new();
    let old_content = current
        .as_ref()
        .map(|c| c.content.as_slice())
        .unwrap_or_default();
    match &current {
        None => reasons.push("created".to_owned()),
        Some(c) => {
            if c.content != want.content {
                reasons.push("content".to_owned());
            }
            if want.mode.as_ref().is_some_and(|m| *m != c.mode) {
                reasons.push(format!(
                    "mode {} -> {}",
                    c.mode,
                    want.mode.as_deref().unwrap_or_default()
                ));
            }
            if want.owner.as_ref().is_some_and(|o| *o != c.owner)
                || want.group.as_ref().is_some_and(|g| *g != c.group)
            {
                reasons.push("owner".to_owned());
            }
        }
    }
    let mut outcome = Outcome::default();
    outcome.data.insert("dest".into(), want.dest.into());
    if reasons.is_empty() {
        return Ok(outcome);
    }
    outcome.changed = true;
    outcome.msg = format!("{}: {}", want.dest, reasons.join(", "));
    if ctx.diff && current.as_ref().is_none_or(|c| c.content != want.content) {
        outcome.diff = Some(unified_diff(
            want.dest,
            old_content,
            &want.content,
            current.is_none(),
        ));
    }
    if ctx.check {
        return Ok(outcome);
    }
    let mode = want
        .mode
        .clone()
        .or_else(|| current.as_ref().map(|c| c.mode.clone()))
        .unwrap_or_else(|| "644".to_owned());
    let owner = match (&want.owner, &want.group, &current) {
        (None, None, None) => String::new(),
        (o, g, cur) => {
            let owner = o
                .clone()
                .or_else(|| cur.as_ref().map(|c| c.owner.clone()))
                .unwrap_or_default();
            let group = g
                .clone()
                .or_else(|| cur.as_ref().map(|c| c.group.clone()))
                .unwrap_or_default();
            if group.is_empty() {
                owner
            } else {
                format!("{owner}:{group}")
            }
        }
    };
    let mut argv = strings(&["sh", "-c", WRITE, "sparklink-write"]);
    argv.extend([want.dest.to_owned(), mode, owner]);
    let out = ctx
        .remote
        .run(argv, Some(want.content), ctx.as_root)
        .await?;
    if !out.success() {
        return Err(ModuleError::Failed(format!(
            "could not write {} (it was left as it was): {}",
            want.dest,
            out.stderr_text().trim()
        )));
    }
    Ok(outcome)
}

/// Reads a file's mode, owner and content; `None` when it does not exist.
pub async fn read(dest: &str, ctx: &Context<'_>) -> Result<Option<Current>, ModuleError> {
    let mut argv = strings(&["sh", "-c", READ, "sparklink-read"]);
    argv.push(dest.to_owned());
    let out = ctx.remote.run(argv, None, ctx.as_root).await?;
    if !out.success() {
        return Err(ModuleError::Failed(format!(
            "cannot read {dest}: {}",
            out.stderr_text().trim()
        )));
    }
    let (head, content) = match out.stdout.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&out.stdout[..i]).into_owned(),
            out.stdout[i + 1..].to_vec(),
        ),
        None => (out.stdout_text(), Vec::new()),
    };
    if head == "absent" {
        return Ok(None);
    }
    let mut fields = head.split_whitespace();
    match (fields.next(), fields.next(), fields.next()) {
        (Some(mode), Some(owner), Some(group)) => Ok(Some(Current {
            mode: mode.to_owned(),
            owner: owner.to_owned(),
            group: group.to_owned(),
            content,
        })),
        _ => Err(ModuleError::Failed(format!(
            "unexpected answer reading {dest}: {head}"
        ))),
    }
}

/// A unified diff, `/dev/null` as the old side of a new file.
pub fn unified_diff(path: &str, old: &[u8], new: &[u8], created: bool) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let before = if created {
        "/dev/null".to_owned()
    } else {
        format!("{path} (on the host)")
    };
    similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .header(&before, &format!("{path} (wanted)"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_the_change() {
        let d = unified_diff("/etc/netplan/40-cx7.yaml", b"a\nb\n", b"a\nc\n", false);
        insta::assert_snapshot!(d, @r"
        --- /etc/netplan/40-cx7.yaml (on the host)
        +++ /etc/netplan/40-cx7.yaml (wanted)
        @@ -1,2 +1,2 @@
         a
        -b
        +c
        ");
    }
}
