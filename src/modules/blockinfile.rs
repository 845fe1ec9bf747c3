//! `blockinfile`: keeps a block of lines between two marker lines in a file
//! (Ansible's module of the same name). Everything outside the markers is
//! left as it was, so removing the block (`state: absent`) removes exactly
//! what was added.

use serde::Deserialize;

use super::copy::{ensure, read, Desired};
use super::{parse_mode, Context, ModuleError, Outcome};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    path: String,
    #[serde(default)]
    block: String,
    /// `{mark}` becomes BEGIN or END.
    #[serde(default = "default_marker")]
    marker: String,
    #[serde(default)]
    state: State,
    /// Create the file when missing (otherwise a missing file is an error
    /// for `present` and nothing to do for `absent`).
    #[serde(default)]
    create: bool,
    /// Delete the file when removing the block leaves it empty (it was
    /// created for the block).
    #[serde(default)]
    remove_empty: bool,
    mode: Option<serde_json::Value>,
    owner: Option<String>,
    group: Option<String>,
}

fn default_marker() -> String {
    "# {mark} ANSIBLE MANAGED BLOCK".to_owned()
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum State {
    #[default]
    Present,
    Absent,
}

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let mode = args
        .mode
        .as_ref()
        .map(|m| parse_mode("blockinfile", m))
        .transpose()?;
    let current = read(&args.path, ctx).await?;
    let old = match &current {
        Some(file) => String::from_utf8_lossy(&file.content).into_owned(),
        None if args.state == State::Absent => return Ok(Outcome::default()),
        None if !args.create => {
            return Err(ModuleError::Failed(format!(
                "{} does not exist (set `create: true` to create it)",
                args.path
            )))
        }
        None => String::new(),
    };
    let begin = args.marker.replace("{mark}", "BEGIN");
    let end = args.marker.replace("{mark}", "END");
    let block = (args.state == State::Present).then_some(args.block.as_str());
    let new = splice(&old, &begin, &end, block);
    if args.state == State::Absent && new.trim().is_empty() && args.remove_empty {
        return remove(&args.path, ctx).await;
    }
    if current.is_some()
        && new == old
        && mode.is_none()
        && args.owner.is_none()
        && args.group.is_none()
    {
        return Ok(Outcome::default());
    }
    ensure(
        Desired {
            module: "blockinfile",
            dest: &args.path,
            content: new.into_bytes(),
            mode,
            owner: args.owner,
            group: args.group,
        },
        ctx,
    )
    .await
}

async fn remove(path: &str, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let outcome = Outcome {
        changed: true,
        msg: format!("{path}: removed (only the block was left)"),
        ..Outcome::default()
    };
    if ctx.check {
        return Ok(outcome);
    }
    let out = ctx
        .remote
        .run(
            vec![
                "rm".to_owned(),
                "-f".to_owned(),
                "--".to_owned(),
                path.to_owned(),
            ],
            None,
            ctx.as_root,
        )
        .await?;
    if !out.success() {
        return Err(ModuleError::Failed(format!(
            "cannot remove {path}: {}",
            out.stderr_text().trim()
        )));
    }
    Ok(outcome)
}

/// Replaces the block between `begin` and `end` (markers included) with
/// `block` wrapped in markers, appends it when there is none, or removes it
/// when `block` is `None`.
pub fn splice(text: &str, begin: &str, end: &str, block: Option<&str>) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == begin);
    let stop = start.and_then(|s| {
        lines[s..]
            .iter()
            .position(|l| l.trim_end() == end)
            .map(|i| s + i)
    });
    let mut wrapped = Vec::new();
    if let Some(block) = block {
        wrapped.push(begin.to_owned());
        wrapped.extend(
            block
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned),
        );
        wrapped.push(end.to_owned());
    }
    let mut out: Vec<String> = match (start, stop) {
        (Some(s), Some(e)) => {
            let mut out: Vec<String> = lines[..s].iter().map(|l| (*l).to_owned()).collect();
            out.extend(wrapped);
            out.extend(lines[e + 1..].iter().map(|l| (*l).to_owned()));
            out
        }
        _ => {
            let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            out.extend(wrapped);
            out
        }
    };
    if out.is_empty() {
        return String::new();
    }
    out.push(String::new());
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::splice;

    const B: &str = "# BEGIN sparklink";
    const E: &str = "# END sparklink";

    #[test]
    fn appends_then_replaces_then_removes_exactly_its_lines() {
        let original = "ssh-ed25519 AAAA laptop\n";
        let added = splice(original, B, E, Some("ssh-ed25519 BBBB spark-2\n"));
        assert_eq!(added, "ssh-ed25519 AAAA laptop\n# BEGIN sparklink\nssh-ed25519 BBBB spark-2\n# END sparklink\n");
        let replaced = splice(&added, B, E, Some("ssh-ed25519 CCCC spark-2"));
        assert_eq!(replaced, "ssh-ed25519 AAAA laptop\n# BEGIN sparklink\nssh-ed25519 CCCC spark-2\n# END sparklink\n");
        assert_eq!(splice(&replaced, B, E, None), original);
        assert_eq!(
            splice(&added, B, E, Some("ssh-ed25519 BBBB spark-2")),
            added,
            "idempotent"
        );
    }

    #[test]
    fn removing_from_a_file_that_only_had_the_block_leaves_it_empty() {
        let only = splice("", B, E, Some("x"));
        assert_eq!(splice(&only, B, E, None), "");
    }
}
