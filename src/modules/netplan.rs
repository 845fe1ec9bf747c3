//! `netplan`: writes (or removes) one netplan file and applies it so that a
//! bad change cannot lock a node out.
//!
//! 1. Every other file in /etc/netplan is read: one that configures the same
//!    interfaces stops the run (netplan would merge them).
//! 2. The new set of files is validated by netplan's own generator in a
//!    scratch root; nothing on the node has changed yet.
//! 3. A watchdog is started on the node, detached from the SSH session, that
//!    restores the previous file and re-applies after `confirm_timeout`
//!    seconds unless it is confirmed: it fires even if sparklink is killed,
//!    the laptop sleeps or the connection drops.
//! 4. The file is replaced atomically and `netplan apply` runs.
//! 5. sparklink opens a NEW SSH connection over the management network and
//!    waits for the expected QSFP addresses; only then does it confirm.
//!    Otherwise it waits for the watchdog and reports the rollback.
//!
//! A pre-existing file that sparklink did not write is saved once under
//! /etc/sparklink/backup so that `state: absent` (sparklink down) restores it.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::copy::{read, unified_diff};
use super::{strings, Context, ModuleError, Outcome};
use crate::sudo::Remote;
use crate::template::shell_quote;

const BACKUP_DIR: &str = "/etc/sparklink/backup";
const STATE_DIR: &str = "/run/sparklink";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    dest: String,
    /// The file's text; or `src`, a template rendered with the host's variables.
    content: Option<String>,
    src: Option<String>,
    #[serde(default)]
    state: State,
    /// Interfaces the file configures: no other netplan file may touch them.
    #[serde(default)]
    interfaces: Vec<String>,
    /// Addresses that must be up before the change is confirmed:
    /// `IFACE=CIDR`, or `IFACE=link-local` for any 169.254/16 address.
    #[serde(default)]
    expect: Vec<String>,
    /// Seconds before an unconfirmed change rolls back (a number or a numeric string).
    confirm_timeout: Option<serde_json::Value>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum State {
    #[default]
    Present,
    Absent,
}

/// Lists the other netplan files, each after a `@@@ PATH` line.
const OTHERS: &str = r#"for f in /etc/netplan/*.yaml /etc/netplan/*.yml; do [ -f "$f" ] && [ "$f" != "$1" ] && { echo "@@@ $f"; cat -- "$f"; echo; }; done; true"#;

/// Prints `pending` when a watchdog of an unconfirmed change is armed.
const PENDING: &str = r#"for p in /run/sparklink/*.pid; do [ -f "$p" ] && [ ! -e "${p%.pid}.confirmed" ] && echo pending; done; true"#;

/// Validates the new set of files with netplan's generator in a scratch root.
const VALIDATE: &str = r#"set -e
d=$(mktemp -d); trap 'rm -rf -- "$d"' EXIT
mkdir -p "$d/etc/netplan"
for f in /etc/netplan/*.yaml /etc/netplan/*.yml; do [ -f "$f" ] && cp -p -- "$f" "$d/etc/netplan/"; done
name=$(basename -- "$1")
if [ "$2" = present ]; then cat > "$d/etc/netplan/$name"; chmod 600 "$d/etc/netplan/$name"; else rm -f -- "$d/etc/netplan/$name"; fi
netplan generate --root-dir "$d" 2>&1"#;

/// Saves a file sparklink did not write, once, so `down` can restore it.
const BACKUP: &str = r#"set -e
if [ -f "$1" ] && ! head -n 1 -- "$1" | grep -q '^# Written by sparklink' && [ ! -e "$2/$(basename -- "$1")" ]; then
  mkdir -p -- "$2"; chmod 700 -- "$2"; cp -p -- "$1" "$2/"; echo saved
fi"#;

/// Stages the new file, arms the watchdog, swaps the file in, applies.
/// $1 dest, $2 state (present/absent), $3 seconds, $4 run id, $5 backup
/// dir; content on stdin. Exit 5: nothing could be written, nothing changed;
/// exit 4: apply failed and the previous file was put back.
const APPLY: &str = r#"set -e
dest=$1 state=$2 secs=$3 id=$4 backup=$5
dir=$(dirname -- "$dest")
run=/run/sparklink/$id
mkdir -p /run/sparklink
# 1. Stage beside the target: a full or read-only disk fails here, before
#    anything has changed.
tmp=$(mktemp -- "$dir/.sparklink.XXXXXX" 2>/dev/null) || { echo "cannot create a file in $dir (read-only or full?)" >&2; exit 5; }
if [ "$state" = present ]; then
  if ! { cat > "$tmp" && chmod 600 "$tmp" && chown root:root "$tmp"; }; then rm -f -- "$tmp"; echo "cannot write $dest (disk full?)" >&2; exit 5; fi
else
  b="$backup/$(basename -- "$dest")"
  if [ -f "$b" ]; then
    if ! cp -p -- "$b" "$tmp"; then rm -f -- "$tmp"; echo "cannot restore $b (disk full?)" >&2; exit 5; fi
  else
    rm -f -- "$tmp"; tmp=
  fi
fi
# An earlier run whose change was never confirmed (interrupted, killed):
# take over from its watchdog, so that a rollback still returns to the last
# confirmed configuration, not to the unconfirmed one.
inherited=
for p in /run/sparklink/*.pid; do
  [ -f "$p" ] || continue
  old=${p%.pid}
  [ -e "$old.confirmed" ] && continue
  kill -- -"$(cat -- "$p")" 2>/dev/null || true
  if [ -f "$old.prev" ]; then mv -f -- "$old.prev" "$run.prev"; else rm -f -- "$run.prev"; fi
  rm -f -- "$p"; touch "$old.confirmed"; inherited=1
done
if [ -z "$inherited" ]; then
  if [ -f "$dest" ]; then cp -p -- "$dest" "$run.prev"; else rm -f -- "$run.prev"; fi
fi
# 2. Arm the watchdog, detached from this session.
setsid -f sh -c '
  echo $$ > "$2.pid"
  sleep "$1"
  [ -e "$2.confirmed" ] && exit 0
  if [ -f "$2.prev" ]; then cp -p -- "$2.prev" "$3"; else rm -f -- "$3"; fi
  netplan apply >"$2.log" 2>&1
  echo rolled-back > "$2.result"' sparklink-watchdog "$secs" "$run" "$dest" </dev/null >/dev/null 2>&1
# 3. Swap and apply.
if [ -n "$tmp" ]; then mv -f -- "$tmp" "$dest"; else rm -f -- "$dest"; fi
if ! out=$(netplan apply 2>&1); then
  # Undo now rather than wait: the watchdog stays as a second line of defence.
  if [ -f "$run.prev" ]; then cp -p -- "$run.prev" "$dest"; else rm -f -- "$dest"; fi
  netplan apply >/dev/null 2>&1 || true
  touch "$run.confirmed"
  echo "$out" >&2
  exit 4
fi"#;

/// Prints IFACE CIDR for every IPv4 address.
const ADDRESSES: &str = "ip -4 -o addr show | awk '{print $2, $4}'";

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let host = ctx.remote.host().to_owned();
    let bad = |detail: String| ModuleError::Args {
        module: "netplan".into(),
        detail,
    };
    let confirm_timeout = match &args.confirm_timeout {
        None | Some(serde_json::Value::Null) => 60,
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
        Some(_) => 0,
    };
    if !(5..=3600).contains(&confirm_timeout) {
        return Err(bad(format!(
            "confirm_timeout must be 5 to 3600 seconds, not {}",
            args.confirm_timeout
                .as_ref()
                .map_or_else(String::new, ToString::to_string)
        )));
    }
    let content = match (&args.content, &args.src, args.state) {
        (_, _, State::Absent) => String::new(),
        (Some(text), None, State::Present) => text.clone(),
        (None, Some(src), State::Present) => ctx.templates.render_file(src, ctx.vars)?,
        _ => return Err(bad("give exactly one of `content` or `src`".to_owned())),
    };
    let current = read(&args.dest, ctx).await?;
    let mut argv = strings(&["sh", "-c", OTHERS, "sparklink-others"]);
    argv.push(args.dest.clone());
    let others = ctx.remote.run(argv, None, true).await?;
    if args.state == State::Present {
        check_foreign(&others.stdout_text(), &args.interfaces)
            .map_err(|e| ModuleError::Failed(format!("{host}: {e}")))?;
    }
    let wanted: Option<Vec<u8>> = (args.state == State::Present).then(|| content.into_bytes());
    // A change of an earlier run that was never confirmed (it was
    // interrupted) is still on its watchdog: go through apply to confirm it.
    let pending = ctx
        .remote
        .run(strings(&["sh", "-c", PENDING]), None, false)
        .await?
        .stdout_text()
        .contains("pending");
    let unchanged = !pending
        && match (&current, &wanted) {
            (Some(file), Some(content)) => file.content == *content && file.mode == "600",
            (None, None) => true,
            _ => false,
        };
    let mut outcome = Outcome::default();
    outcome.data.insert("dest".into(), args.dest.clone().into());
    if unchanged {
        return Ok(outcome);
    }
    outcome.changed = true;
    let old = current
        .as_ref()
        .map(|c| c.content.clone())
        .unwrap_or_default();
    if ctx.diff {
        outcome.diff = Some(unified_diff(
            &args.dest,
            &old,
            wanted.as_deref().unwrap_or_default(),
            current.is_none(),
        ));
    }
    outcome.msg = match (&current, &wanted) {
        (None, _) => format!("{}: created", args.dest),
        (Some(_), None) => format!("{}: removed", args.dest),
        _ => format!("{}: updated", args.dest),
    };
    if ctx.check {
        return Ok(outcome);
    }
    let state = if wanted.is_some() {
        "present"
    } else {
        "absent"
    };
    // 2. validate
    let mut argv = strings(&["sh", "-c", VALIDATE, "sparklink-validate"]);
    argv.extend([args.dest.clone(), state.to_owned()]);
    let out = ctx.remote.run(argv, wanted.clone(), true).await?;
    if !out.success() {
        return Err(ModuleError::Failed(format!(
            "netplan rejected the new configuration on {host} (nothing was changed): {}",
            one_line(&out.stdout_text())
        )));
    }
    if wanted.is_some() {
        let mut argv = strings(&["sh", "-c", BACKUP, "sparklink-backup"]);
        argv.extend([args.dest.clone(), BACKUP_DIR.to_owned()]);
        let out = ctx.remote.run(argv, None, true).await?;
        if out.stdout_text().contains("saved") {
            outcome.warnings.push(format!(
                "{host}: kept the existing {} in {BACKUP_DIR}; `sparklink down` puts it back",
                args.dest
            ));
        }
    }
    // 3-4. arm the watchdog, swap, apply
    let id = format!("netplan-{}", std::process::id());
    let mut argv = strings(&["sh", "-c", APPLY, "sparklink-apply"]);
    argv.extend([
        args.dest.clone(),
        state.to_owned(),
        confirm_timeout.to_string(),
        id.clone(),
        BACKUP_DIR.to_owned(),
    ]);
    let started = Instant::now();
    match ctx.remote.run(argv, wanted, true).await {
        Ok(out) if out.status == Some(4) => {
            return Err(ModuleError::Failed(format!(
                "netplan apply failed on {host}; the previous configuration was put back: {}",
                one_line(&out.stderr_text())
            )))
        }
        Ok(out) if out.status == Some(5) => {
            return Err(ModuleError::Failed(format!(
                "could not write {} on {host} (nothing was changed): {}",
                args.dest,
                one_line(&out.stderr_text())
            )))
        }
        Ok(out) if !out.success() => {
            return Err(ModuleError::Failed(format!(
                "could not apply on {host} ({}); the watchdog restores the previous configuration within {} s",
                one_line(&out.stderr_text()),
                confirm_timeout
            )))
        }
        // The old connection may die with the change: the new one decides.
        Ok(_) | Err(_) => {}
    }
    // 5. confirm over a new connection
    let deadline = started + Duration::from_secs(confirm_timeout);
    let cleanup = match args.state {
        State::Absent => {
            let name = std::path::Path::new(&args.dest)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("rm -f -- {}", shell_quote(&format!("{BACKUP_DIR}/{name}")))
        }
        State::Present => String::new(),
    };
    match confirm(ctx, &id, &args.expect, deadline, &cleanup).await {
        Ok(()) => {
            outcome
                .msg
                .push_str(", applied and confirmed over a new connection");
            Ok(outcome)
        }
        Err(reason) => Err(ModuleError::Failed(
            rolled_back(ctx, &id, &reason, deadline, confirm_timeout).await,
        )),
    }
}

/// A second file configuring our interfaces would be merged with ours.
fn check_foreign(listing: &str, interfaces: &[String]) -> Result<(), String> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in listing.lines() {
        if let Some(path) = line.strip_prefix("@@@ ") {
            files.push((path.to_owned(), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    for (path, text) in files {
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
            format!("{path} is not valid YAML ({e}); netplan would refuse it too: fix or remove it")
        })?;
        let mut configured = Vec::new();
        for kind in ["ethernets", "bonds", "bridges", "vlans"] {
            if let Some(serde_yaml::Value::Mapping(map)) =
                doc.get("network").and_then(|n| n.get(kind))
            {
                for key in map.keys() {
                    if let Some(name) = key.as_str() {
                        if interfaces.iter().any(|i| i == name) {
                            configured.push(name.to_owned());
                        }
                    }
                }
            }
        }
        if !configured.is_empty() {
            return Err(format!(
                "{path} also configures {}: netplan would merge both files (duplicate addresses); remove it, or move those interfaces out of it, then retry",
                configured.join(", ")
            ));
        }
    }
    Ok(())
}

/// Opens a new connection, waits for the expected addresses, confirms.
async fn confirm(
    ctx: &Context<'_>,
    id: &str,
    expect: &[String],
    deadline: Instant,
    cleanup: &str,
) -> Result<(), String> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let fresh = tokio::time::timeout(remaining, ctx.reconnect())
        .await
        .map_err(|_| "no new SSH connection could be opened before the deadline".to_owned())?
        .map_err(|e| format!("a new SSH connection failed: {e}"))?;
    let result = wait_and_confirm(&fresh, id, expect, deadline, cleanup).await;
    let _ = fresh.close().await;
    result
}

async fn wait_and_confirm(
    fresh: &Remote,
    id: &str,
    expect: &[String],
    deadline: Instant,
    cleanup: &str,
) -> Result<(), String> {
    let mut missing: Vec<String>;
    loop {
        let out = fresh
            .run(strings(&["sh", "-c", ADDRESSES]), None, false)
            .await
            .map_err(|e| format!("reading addresses over the new connection failed: {e}"))?;
        let present = out.stdout_text();
        missing = expect
            .iter()
            .filter(|e| !has_address(&present, e))
            .cloned()
            .collect();
        // Leave a margin before the watchdog fires.
        if missing.is_empty() || Instant::now() + Duration::from_secs(3) >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if !missing.is_empty() {
        return Err(format!(
            "expected addresses did not come up: {}",
            missing.join(", ")
        ));
    }
    let script = format!("touch {STATE_DIR}/{id}.confirmed && if [ -s {STATE_DIR}/{id}.pid ]; then kill -- -$(cat {STATE_DIR}/{id}.pid) 2>/dev/null; fi; rm -f {STATE_DIR}/{id}.prev {STATE_DIR}/{id}.pid; true");
    // The confirmed mark stays: a watchdog that could not be killed sees it and exits.
    let script = if cleanup.is_empty() {
        script
    } else {
        format!("{script}; {cleanup}")
    };
    let out = fresh
        .run(strings(&["sh", "-c", &script]), None, true)
        .await
        .map_err(|e| format!("confirming failed: {e}"))?;
    if !out.success() {
        return Err(format!(
            "confirming failed: {}",
            one_line(&out.stderr_text())
        ));
    }
    Ok(())
}

/// `IFACE=CIDR` or `IFACE=link-local` against `ip -4 -o addr` lines.
fn has_address(present: &str, expected: &str) -> bool {
    let Some((iface, want)) = expected.split_once('=') else {
        return false;
    };
    present.lines().any(|line| {
        let mut words = line.split_whitespace();
        let (Some(name), Some(cidr)) = (words.next(), words.next()) else {
            return false;
        };
        name == iface && (cidr == want || (want == "link-local" && cidr.starts_with("169.254.")))
    })
}

/// Waits for the watchdog, then says what happened.
async fn rolled_back(
    ctx: &Context<'_>,
    id: &str,
    reason: &str,
    deadline: Instant,
    secs: u64,
) -> String {
    let host = ctx.remote.host();
    tokio::time::sleep_until((deadline + Duration::from_secs(3)).into()).await;
    let verdict = match ctx.reconnect().await {
        Ok(fresh) => {
            let script = format!("cat {STATE_DIR}/{id}.result 2>/dev/null");
            let seen = fresh.run(strings(&["sh", "-c", &script]), None, false).await;
            let _ = fresh.close().await;
            match seen {
                Ok(out) if out.stdout_text().contains("rolled-back") => format!("{host} rolled back to its previous network configuration by itself after {secs} s"),
                _ => format!("{host} is reachable again but did not report a rollback: check /etc/netplan on it"),
            }
        }
        Err(e) => format!("{host} should have rolled back by itself after {secs} s, but is still unreachable ({e})"),
    };
    format!("network change not confirmed ({reason}); {verdict}")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_file_on_our_interfaces_is_named() {
        let listing = "@@@ /etc/netplan/01-network-manager-all.yaml\nnetwork:\n  version: 2\n  renderer: NetworkManager\n\n@@@ /etc/netplan/99-nvidia-sync-cluster.yaml\nnetwork:\n  ethernets:\n    enp1s0f1np1:\n      addresses: [192.168.100.10/24]\n";
        let err =
            check_foreign(listing, &["enp1s0f1np1".into(), "enP2p1s0f1np1".into()]).unwrap_err();
        insta::assert_snapshot!(err, @"/etc/netplan/99-nvidia-sync-cluster.yaml also configures enp1s0f1np1: netplan would merge both files (duplicate addresses); remove it, or move those interfaces out of it, then retry");
        assert!(check_foreign(listing, &["enp1s0f0np0".into()]).is_ok());
    }

    #[test]
    fn expected_addresses() {
        let present =
            "enP7s7 198.18.0.11/24\nenp1s0f1np1 192.168.100.10/24\nenp1s0f0np0 169.254.12.7/16\n";
        assert!(has_address(present, "enp1s0f1np1=192.168.100.10/24"));
        assert!(!has_address(present, "enP2p1s0f1np1=192.168.101.10/24"));
        assert!(has_address(present, "enp1s0f0np0=link-local"));
        assert!(!has_address(present, "enp1s0f1np1=link-local"));
    }
}
