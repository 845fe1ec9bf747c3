//! `ip_address`: addresses set with `ip`, not netplan (the seed's option 3,
//! `qsfp_persist: false`): gone at reboot. Adds the missing ones, brings the
//! links up and notes each address it added in a record file on the node;
//! `state: absent` deletes exactly the recorded addresses.

use serde::Deserialize;

use super::{strings, Context, ModuleError, Outcome};

const RECORD: &str = "/etc/sparklink/ip-addresses";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// `[{name, addresses}]`, as `qsfp_plan.interfaces` lists them.
    #[serde(default)]
    interfaces: Vec<Interface>,
    #[serde(default)]
    state: State,
}

#[derive(Deserialize)]
struct Interface {
    name: String,
    #[serde(default)]
    addresses: Vec<String>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum State {
    #[default]
    Present,
    Absent,
}

/// $1 record file, $2 check; stdin: `IFACE CIDR` lines. Prints each change.
const ADD: &str = r#"rec=$1 check=$2
while read -r dev a; do
  [ -n "$dev" ] || continue
  if ! ip -4 -o addr show dev "$dev" | awk '{print $4}' | grep -qx -- "$a"; then
    echo "added $a on $dev"
    if [ -z "$check" ]; then
      ip addr add "$a" dev "$dev" || exit 1
      mkdir -p -- "$(dirname -- "$rec")"
      grep -qx -- "$dev $a" "$rec" 2>/dev/null || echo "$dev $a" >> "$rec"
    fi
  fi
  if ! ip link show dev "$dev" | grep -q '[<,]UP[,>]'; then
    echo "set $dev up"; [ -n "$check" ] || ip link set "$dev" up || exit 1
  fi
done
true"#;

/// $1 record file, $2 check: deletes the recorded addresses, then the record.
const DELETE: &str = r#"rec=$1 check=$2
[ -f "$rec" ] || exit 0
while read -r dev a; do
  [ -n "$dev" ] || continue
  if ip -4 -o addr show dev "$dev" 2>/dev/null | awk '{print $4}' | grep -qx -- "$a"; then
    echo "deleted $a on $dev"; [ -n "$check" ] || ip addr del "$a" dev "$dev" || exit 1
  fi
done < "$rec"
[ -n "$check" ] || rm -f -- "$rec"
true"#;

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let check = if ctx.check {
        "1".to_owned()
    } else {
        String::new()
    };
    let (script, stdin) = match args.state {
        State::Present => {
            let mut lines = String::new();
            for iface in &args.interfaces {
                for address in &iface.addresses {
                    lines.push_str(&format!("{} {address}\n", iface.name));
                }
            }
            (ADD, Some(lines.into_bytes()))
        }
        State::Absent => (DELETE, None),
    };
    let mut argv = strings(&["sh", "-c", script, "sparklink-ip"]);
    argv.extend([RECORD.to_owned(), check]);
    let out = ctx.remote.run(argv, stdin, ctx.as_root).await?;
    if !out.success() {
        return Err(ModuleError::Failed(out.stderr_text().trim().to_owned()));
    }
    let changes: Vec<String> = out.stdout_text().lines().map(str::to_owned).collect();
    Ok(Outcome {
        changed: !changes.is_empty(),
        msg: changes.join(", "),
        ..Outcome::default()
    })
}
