//! `link_check`: the read-only checks of `sparklink verify`, cheapest first
//! (reference §6): cable, speed, RDMA and PCIe, addresses, netplan drift,
//! MTU, reachability, SSH over the link with pinned host keys, and the
//! cluster environment (`/etc/sparklink/cluster.env`) against the live link. Every check
//! reports a mark and the value it measured, and every failure names the
//! likely cause and the fix. One shell round trip gathers all the node's
//! measurements; reading the root-only netplan file needs sudo without a
//! prompt, and is skipped with a note otherwise. Changes nothing.

use serde::Serialize;
use serde_json::Value;

use super::cluster_env::{self, Drift};
use super::qsfp_facts::{Facts, Interface};
use super::qsfp_plan::{self, Plan};
use super::{strings, Context, ModuleError, Outcome, Play};
use crate::vars::Vars;

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Pass,
    Fail,
    Skip,
}

/// One check on one node.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub mark: Mark,
    /// What was measured (or why the check was skipped).
    pub value: String,
    /// For a failure: the likely cause and the fix.
    pub diagnosis: Option<String>,
}

impl Check {
    fn pass(name: &'static str, value: String) -> Self {
        Self {
            name,
            mark: Mark::Pass,
            value,
            diagnosis: None,
        }
    }
    fn skip(name: &'static str, value: String) -> Self {
        Self {
            name,
            mark: Mark::Skip,
            value,
            diagnosis: None,
        }
    }
    fn fail(name: &'static str, value: String, diagnosis: String) -> Self {
        Self {
            name,
            mark: Mark::Fail,
            value,
            diagnosis: Some(diagnosis),
        }
    }
}

/// Reads sysfs, pings and sshes; stdin holds one request per line:
/// `IF name rdma`, `PING iface address mtu`, `SSH address`.
const PROBE: &str = r#"while read -r kind a b c; do
  case "$kind" in
  IF)
    d=/sys/class/net/$a
    virt=no; [ -e /sys/devices/virtual/net/$a ] && virt=yes
    state=-; [ -r /sys/class/infiniband/$b/ports/1/state ] && state=$(cut -d' ' -f2 /sys/class/infiniband/$b/ports/1/state)
    width=-; [ -r /sys/class/infiniband/$b/device/current_link_width ] && width=$(cat /sys/class/infiniband/$b/device/current_link_width)
    echo "IF $a $(cat $d/speed 2>/dev/null || echo -) $virt $state x$width" ;;
  PING)
    rtt=$(ping -n -q -c 1 -W 1 -I "$a" "$b" 2>/dev/null | sed -n 's|.* = \([0-9.]*\)/.*|\1|p')
    df=no; ping -n -q -c 1 -W 1 -M do -s $((c - 28)) -I "$a" "$b" >/dev/null 2>&1 && df=yes
    echo "PING $a $b ${rtt:--} $df" ;;
  SSH)
    ( out=$(ssh -n -o BatchMode=yes -o ConnectTimeout=3 -o StrictHostKeyChecking=yes -o UpdateHostKeys=no "$a" hostname 2>&1); rc=$?
      pinned=no; ssh-keygen -F "$a" >/dev/null 2>&1 && pinned=yes
      echo "SSH $a $rc $pinned $(printf '%s' "$out" | tail -n 1)" ) &
    ;;
  esac
done
wait"#;

pub async fn run(ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let play = Play::new(ctx.vars);
    let (me, hosts) = (play.me.clone(), &play.hosts);
    let hostvars = ctx
        .vars
        .get("hostvars")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let facts_of = |host: &str| play.qsfp(host);
    let mine = play.my_qsfp()?;
    let silent: Vec<&String> = hosts
        .iter()
        .filter(|h| **h != me && facts_of(h).is_none())
        .collect();
    let peers: Vec<(String, Facts)> = hosts
        .iter()
        .filter(|h| **h != me)
        .filter_map(|h| facts_of(h).map(|f| (h.clone(), f)))
        .collect();
    let plan = plan_for(ctx.vars, &me);
    let cabled: Vec<&Interface> = mine
        .interfaces
        .iter()
        .filter(|i| mine.cabled_ports.contains(&i.port))
        .collect();

    // The one round trip: interfaces, pings to each peer's same-named
    // interface, ssh to every peer address.
    let mut requests = String::new();
    for iface in &cabled {
        requests.push_str(&format!("IF {} {}\n", iface.name, iface.rdma));
    }
    for (_, peer) in &peers {
        for theirs in peer
            .interfaces
            .iter()
            .filter(|i| mine.cabled_ports.contains(&i.port))
        {
            for ip in &theirs.ips {
                let mtu = cabled
                    .iter()
                    .find(|i| i.name == theirs.name)
                    .and_then(|i| i.mtu)
                    .unwrap_or(1500);
                requests.push_str(&format!("PING {} {ip} {mtu}\nSSH {ip}\n", theirs.name));
            }
        }
    }
    let out = ctx
        .remote
        .run(
            strings(&["sh", "-c", PROBE]),
            Some(requests.into_bytes()),
            false,
        )
        .await?;
    let probe = out.stdout_text();

    let mut checks = vec![cable(&me, &mine, &peers), speed(&probe), rdma(&probe)];
    checks.push(addresses(&me, &mine, plan.as_ref()));
    checks.push(netplan(ctx, plan.as_ref()).await?);
    checks.push(mtu(&me, &cabled, &peers, &probe));
    checks.push(match silent.first() {
        Some(peer) => Check::fail(
            "ping",
            format!("{peer}: no facts"),
            format!("{peer} could not be read over the management network, so its link could not be checked: check that it is on and that its sshd runs"),
        ),
        None => reachability(&probe, &peers),
    });
    checks.push(ssh(&probe, &peers, &hostvars));
    checks.push(match cluster_env::drift(ctx).await? {
        Drift::Current => Check::pass("cluster env", "current".to_owned()),
        Drift::Unknown(why) => Check::skip("cluster env", why),
        Drift::Stale { value, diagnosis } => Check::fail("cluster env", value, diagnosis),
    });

    let mut outcome = Outcome::default();
    let failures: Vec<String> = checks
        .iter()
        .filter_map(|c| c.diagnosis.as_ref().map(|d| format!("{}: {d}", c.name)))
        .collect();
    outcome.failed = !failures.is_empty();
    outcome.msg = failures.join("\n");
    let mut columns = serde_json::Map::new();
    for check in &checks {
        let mark = match check.mark {
            Mark::Pass => "✓",
            Mark::Fail => "✗",
            Mark::Skip => "-",
        };
        columns.insert(
            check.name.to_owned(),
            format!("{mark} {}", check.value).into(),
        );
    }
    let mut summary = serde_json::Map::new();
    summary.insert("title".into(), "Link checks".into());
    summary.insert("columns".into(), Value::Object(columns));
    outcome
        .data
        .insert("summary".into(), Value::Object(summary));
    outcome.data.insert(
        "checks".into(),
        serde_json::to_value(&checks).unwrap_or_default(),
    );
    Ok(outcome)
}

/// What `sparklink up` would configure here, if the nodes allow a plan.
fn plan_for(vars: &Vars, me: &str) -> Option<Plan> {
    let nodes = qsfp_plan::nodes_from_vars(vars).ok()?;
    let (plans, _) = qsfp_plan::plan(&nodes).ok()?;
    plans.get(me).cloned()
}

fn ports(list: &[u8]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    list.iter()
        .map(|p| format!("port {p}"))
        .collect::<Vec<_>>()
        .join("+")
}

fn cable(me: &str, mine: &Facts, peers: &[(String, Facts)]) -> Check {
    const NAME: &str = "cable";
    if mine.cabled_ports.is_empty() {
        return Check::fail(NAME, "no port Up".into(), format!("no QSFP port is Up on {me}: check the cable on both ends; if it is seated, reboot and retry"));
    }
    for (peer, theirs) in peers {
        if theirs.cabled_ports != mine.cabled_ports {
            return Check::fail(
                NAME,
                format!("{} here, {} on {peer}", ports(&mine.cabled_ports), ports(&theirs.cabled_ports)),
                format!("the cable is in {} here and {} on {peer}: put it in the same port on both nodes, then `sparklink up`", ports(&mine.cabled_ports), ports(&theirs.cabled_ports)),
            );
        }
    }
    let dark: Vec<&str> = mine
        .interfaces
        .iter()
        .filter(|i| mine.cabled_ports.contains(&i.port) && !i.carrier)
        .map(|i| i.name.as_str())
        .collect();
    if !dark.is_empty() {
        return Check::fail(
            NAME,
            format!("{} without carrier", dark.join(", ")),
            "one twin of the port has no carrier: reseat the cable; that rail carries no traffic"
                .into(),
        );
    }
    Check::pass(
        NAME,
        format!("{}, both twins up", ports(&mine.cabled_ports)),
    )
}

/// Lines of the probe output that start with `kind`, split in words.
fn lines<'a>(probe: &'a str, kind: &str) -> Vec<Vec<&'a str>> {
    probe
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(kind))
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect()
}

fn speed(probe: &str) -> Check {
    const NAME: &str = "speed";
    let rows = lines(probe, "IF");
    if rows.is_empty() {
        return Check::skip(NAME, "no cabled interface".into());
    }
    let mut values = Vec::new();
    let mut virtual_link = false;
    let mut slow = Vec::new();
    for row in &rows {
        let (name, speed, virt) = (
            row.first().copied().unwrap_or("?"),
            row.get(1).copied().unwrap_or("-"),
            row.get(2) == Some(&"yes"),
        );
        values.push(format!("{speed} Mb/s"));
        virtual_link |= virt;
        if !virt && speed != "200000" {
            slow.push(format!("{name} at {speed} Mb/s"));
        }
    }
    values.dedup();
    let value = values.join(", ");
    if virtual_link {
        return Check::skip(NAME, format!("{value} (veth: not a Spark link)"));
    }
    if slow.is_empty() {
        return Check::pass(NAME, value);
    }
    let diagnosis = if slow.iter().any(|s| s.contains("100000")) {
        format!("{}: the link negotiated 100G, not 200G (through a switch: force its ports to 200G; direct: reseat or replace the cable)", slow.join(", "))
    } else {
        format!(
            "{}: expected 200000 Mb/s; check the cable (a 200G QSFP56 DAC or AOC) and reseat it",
            slow.join(", ")
        )
    };
    Check::fail(NAME, value, diagnosis)
}

fn rdma(probe: &str) -> Check {
    const NAME: &str = "rdma";
    let rows = lines(probe, "IF");
    let states: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.first().copied().unwrap_or("?"),
                r.get(3).copied().unwrap_or("-"),
                r.get(4).copied().unwrap_or("x-"),
            )
        })
        .collect();
    if states.is_empty() || states.iter().all(|(_, s, _)| *s == "-") {
        return Check::skip(
            NAME,
            "no /sys/class/infiniband port state (not a ConnectX-7 here)".into(),
        );
    }
    let value = states
        .iter()
        .map(|(n, s, w)| format!("{n} {s} {w}"))
        .collect::<Vec<_>>()
        .join(", ");
    let bad: Vec<String> = states
        .iter()
        .filter(|(_, s, w)| *s != "ACTIVE" || (*w != "x-" && *w != "x4"))
        .map(|(n, s, w)| format!("{n} {s} {w}"))
        .collect();
    if bad.is_empty() {
        Check::pass(NAME, value)
    } else {
        Check::fail(NAME, value, format!("{}: the RDMA port is not ACTIVE at PCIe x4; reboot the node, and if it persists check `ibv_devinfo` and the PCIe link", bad.join(", ")))
    }
}

fn addresses(me: &str, mine: &Facts, plan: Option<&Plan>) -> Check {
    const NAME: &str = "addresses";
    let live: Vec<String> = mine
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(move |a| format!("{} {a}", i.name)))
        .collect();
    let value = if live.is_empty() {
        "none".to_owned()
    } else {
        mine.interfaces
            .iter()
            .flat_map(|i| i.addresses.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(plan) = plan else {
        return Check::skip(
            NAME,
            format!("{value} (nothing to compare: see the cable check)"),
        );
    };
    let mut missing = Vec::new();
    for want in &plan.expect {
        let Some((iface, cidr)) = want.split_once('=') else {
            continue;
        };
        let have = mine
            .interfaces
            .iter()
            .find(|i| i.name == iface)
            .map(|i| i.addresses.clone())
            .unwrap_or_default();
        let ok = if cidr == "link-local" {
            have.iter().any(|a| a.starts_with("169.254."))
        } else {
            have.iter().any(|a| a == cidr)
        };
        if !ok {
            missing.push(format!("{cidr} on {iface}"));
        }
    }
    if !missing.is_empty() {
        return Check::fail(NAME, value, format!("{} missing on {me}: the interface is not configured (\"Network unreachable\"): run `sparklink up`", missing.join(", ")));
    }
    let planned: Vec<super::qsfp_plan::PlannedInterface> = mine
        .interfaces
        .iter()
        .map(|i| super::qsfp_plan::PlannedInterface {
            name: i.name.clone(),
            rdma: i.rdma.clone(),
            addresses: i.addresses.clone(),
            link_local: false,
        })
        .collect();
    let shared = qsfp_plan::shared_subnets(me, &planned);
    if let Some(first) = shared.first() {
        return Check::fail(
            NAME,
            value,
            first.trim_start_matches(&format!("{me}: ")).to_owned(),
        );
    }
    Check::pass(NAME, value)
}

/// The netplan file against what the inventory renders now.
async fn netplan(ctx: &Context<'_>, plan: Option<&Plan>) -> Result<Check, ModuleError> {
    const NAME: &str = "netplan";
    const FILE: &str = "/etc/netplan/40-cx7.yaml";
    let Some(plan) = plan else {
        return Ok(Check::skip(
            NAME,
            "nothing to compare: see the cable check".into(),
        ));
    };
    if !plan.persist {
        return Ok(Check::skip(
            NAME,
            "qsfp_persist: false (no netplan file)".into(),
        ));
    }
    if ctx.remote.prepare_become(&ctx.user).await.is_err() {
        return Ok(Check::skip(
            NAME,
            "needs root to read: allow NOPASSWD sudo, or set SPARKLINK_BECOME_PASSWORD".into(),
        ));
    }
    let script = format!("stat -c %a {FILE} 2>/dev/null || echo missing; cat {FILE} 2>/dev/null");
    let out = ctx
        .remote
        .run(strings(&["sh", "-c", &script]), None, true)
        .await?;
    let text = out.stdout_text();
    let (mode, content) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    if mode == "missing" {
        return Ok(Check::fail(
            NAME,
            "no 40-cx7.yaml".into(),
            "the netplan file is gone: run `sparklink up`".into(),
        ));
    }
    let mut vars = ctx.vars.clone();
    vars.insert(
        "qsfp_plan".into(),
        serde_json::to_value(plan).unwrap_or_default(),
    );
    let wanted = ctx.templates.render_file("40-cx7.yaml.j2", &vars)?;
    if content != wanted {
        return Ok(Check::fail(NAME, "drift".into(), format!("{FILE} differs from what the inventory gives (edited by hand?): `sparklink up --check --diff` shows it, `sparklink up` restores it")));
    }
    if mode != "600" {
        return Ok(Check::fail(
            NAME,
            format!("mode {mode}"),
            format!("{FILE} has mode {mode}; netplan wants 600: `sparklink up` fixes it"),
        ));
    }
    Ok(Check::pass(NAME, "as rendered, mode 600".into()))
}

fn mtu(me: &str, cabled: &[&Interface], peers: &[(String, Facts)], probe: &str) -> Check {
    const NAME: &str = "mtu";
    let mut values: Vec<String> = cabled
        .iter()
        .map(|i| i.mtu.map_or("-".to_owned(), |m| m.to_string()))
        .collect();
    values.dedup();
    let value = values.join(", ");
    for (peer, theirs) in peers {
        for mine in cabled {
            if let Some(other) = theirs.interfaces.iter().find(|i| i.name == mine.name) {
                if other.mtu != mine.mtu {
                    return Check::fail(
                        NAME,
                        format!("{value} here, {} on {peer}", other.mtu.map_or("-".to_owned(), |m| m.to_string())),
                        format!("MTU mismatch on {} between {me} and {peer}: set qsfp_mtu alike for both and run `sparklink up`", mine.name),
                    );
                }
            }
        }
    }
    let pings = lines(probe, "PING");
    if let Some(row) = pings
        .iter()
        .find(|r| r.get(2) != Some(&"-") && r.get(3) != Some(&"yes"))
    {
        return Check::fail(NAME, value, format!("a full-size packet (DF, MTU-28) does not reach {} through {}: lower qsfp_mtu or fix the path", row.get(1).unwrap_or(&"?"), row.first().unwrap_or(&"?")));
    }
    Check::pass(NAME, format!("{value}, carried (DF)"))
}

fn reachability(probe: &str, peers: &[(String, Facts)]) -> Check {
    const NAME: &str = "ping";
    let rows = lines(probe, "PING");
    if rows.is_empty() {
        return Check::fail(NAME, "no peer address".into(), "no link address on the peer: the peer is not visible (cable or addresses): run `sparklink up`".into());
    }
    let owner = |ip: &str| {
        peers
            .iter()
            .find(|(_, f)| f.interfaces.iter().any(|i| i.ips.iter().any(|a| a == ip)))
            .map_or("the peer".to_owned(), |(p, _)| p.clone())
    };
    let mut values = Vec::new();
    for row in &rows {
        let (iface, ip, rtt) = (
            row.first().copied().unwrap_or("?"),
            row.get(1).copied().unwrap_or("?"),
            row.get(2).copied().unwrap_or("-"),
        );
        if rtt == "-" {
            return Check::fail(NAME, format!("{ip}: no reply"), format!("no reply from {} at {ip} through {iface}: the peer is not visible: check the cable and the addresses on both nodes", owner(ip)));
        }
        values.push(format!("{ip} {rtt} ms"));
    }
    Check::pass(NAME, values.join(", "))
}

fn ssh(probe: &str, peers: &[(String, Facts)], hostvars: &serde_json::Map<String, Value>) -> Check {
    const NAME: &str = "ssh";
    let rows = lines(probe, "SSH");
    if rows.is_empty() {
        return Check::skip(NAME, "no peer address to try".into());
    }
    let mut values = Vec::new();
    for row in &rows {
        let ip = row.first().copied().unwrap_or("?");
        let rc = row.get(1).copied().unwrap_or("?");
        let pinned = row.get(2) == Some(&"yes");
        let said = row[3.min(row.len())..].join(" ");
        let peer = peers
            .iter()
            .find(|(_, f)| f.interfaces.iter().any(|i| i.ips.iter().any(|a| a == ip)))
            .map_or_else(|| "the peer".to_owned(), |(p, _)| p.clone());
        let expected = hostvars
            .get(&peer)
            .and_then(|h| h.get("ansible_hostname"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !pinned {
            return Check::fail(NAME, format!("{ip}: host key not pinned"), format!("the host key of {peer} is not pinned for {ip} in ~/.ssh/known_hosts: run `sparklink up` (it pins it over the trusted management connection)"));
        }
        if rc != "0" {
            let diagnosis = if said.contains("Permission denied") {
                format!("SSH authentication to {peer} at {ip} fails: the keys are not set up (this node's key is not authorized there): run `sparklink up`")
            } else if said.contains("Host key verification failed")
                || said.contains("IDENTIFICATION HAS CHANGED")
            {
                format!("the host key {peer} shows at {ip} does not match the pinned one (re-imaged node?): run `sparklink up` to pin it again")
            } else {
                format!("ssh to {peer} at {ip} failed ({said}): check that sshd runs on {peer}")
            };
            return Check::fail(NAME, format!("{ip}: {said}"), diagnosis);
        }
        if !expected.is_empty() && said != expected {
            return Check::fail(
                NAME,
                format!("{ip}: answered {said}"),
                format!("{ip} is answered by `{said}`, not {peer}: two nodes share an address"),
            );
        }
        values.push(format!("{ip} → {said}"));
    }
    Check::pass(NAME, format!("{}, keys pinned", values.join(", ")))
}
