//! `cluster_env`: the environment that NCCL, MPI, Ray and PyTorch jobs need
//! on a node (reference §7), worked out from every node's `qsfp` fact. Sets
//! the fact `cluster_env`: the variables (`vars`), the text of
//! `/etc/sparklink/cluster.env` (`file`), the MPI hostfile (`hostfile`), the
//! `/etc/hosts` lines naming each node's link address (`hosts`), and the
//! names of each node's link address (`names`, host to `[<host>-link]`, or
//! `[]` when that is no valid host name). The playbook writes them with
//! `copy` and `blockinfile`. In check mode, before the link is addressed,
//! `ready` is false and the task is skipped: there is nothing to work out.
//!
//! [`drift`] is `verify`'s check that the node's cluster.env and hostfile
//! (read without sudo: both are world-readable) still match the live link.
//! Changes nothing.

use serde_json::Value;

use super::copy::{read, Current};
use super::qsfp_facts::Facts;
use super::{Context, ModuleError, Outcome, Play};
use crate::vars::Vars;

/// Where `up` and `sparklink env` write the environment.
pub const ENV_FILE: &str = "/etc/sparklink/cluster.env";
/// Where they write the MPI hostfile.
pub const HOSTFILE: &str = "/etc/sparklink/hostfile";

/// What a node's jobs need, worked out from the facts.
#[derive(Debug, PartialEq, Eq)]
pub struct ClusterEnv {
    /// Variable name and value, in the order written.
    pub vars: Vec<(&'static str, String)>,
    /// `address name` for every node with a link address and a usable name.
    pub hosts: Vec<(String, String)>,
    /// One link address per node, in play order.
    pub hostfile: Vec<String>,
}

impl ClusterEnv {
    /// The text of cluster.env: `KEY=value` lines that a shell (`set -a; .`),
    /// `docker --env-file` and systemd's `EnvironmentFile=` all read.
    pub fn file(&self, host: &str) -> String {
        let mut text = format!(
            "# The QSFP link of {host}, for NCCL, MPI, Ray and PyTorch jobs.\n\
             # Written by sparklink (`sparklink env`); `sparklink down` removes it.\n"
        );
        for (key, value) in &self.vars {
            text.push_str(&format!("{key}={value}\n"));
        }
        text
    }

    /// The MPI hostfile.
    pub fn hostfile_text(&self) -> String {
        let mut text = "# One QSFP link address per node, written by sparklink.\n".to_owned();
        for address in &self.hostfile {
            text.push_str(address);
            text.push('\n');
        }
        text
    }

    /// The lines for /etc/hosts.
    pub fn hosts_text(&self) -> String {
        self.hosts
            .iter()
            .map(|(address, name)| format!("{address} {name}\n"))
            .collect()
    }
}

/// The name of `host`'s link address: `<host>-link`, when that is a valid
/// host name (letters, digits, `-` and `.`).
pub fn link_name(host: &str) -> Option<String> {
    let name = format!("{host}-link");
    let valid = name
        .split('.')
        .all(|label| !label.is_empty() && !label.starts_with('-'))
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then_some(name)
}

/// The node's interfaces that have carrier and an address: the ones a
/// job's sockets can use.
fn addressed(facts: &Facts) -> Vec<&str> {
    facts
        .interfaces
        .iter()
        .filter(|i| i.carrier && !i.ips.is_empty())
        .map(|i| i.name.as_str())
        .collect()
}

/// Works out `me`'s environment from every play host's facts (`hosts` in
/// play order; the first is the master).
fn compute(
    me: &str,
    hosts: &[String],
    facts: &dyn Fn(&str) -> Option<Facts>,
) -> Result<ClusterEnv, String> {
    if hosts.len() < 2 {
        return Err(format!(
            "the cluster environment names every node, but the play has only {}: run against all nodes (drop --limit)",
            hosts.first().map_or("no host", String::as_str)
        ));
    }
    let mut all = Vec::new();
    for host in hosts {
        let f = facts(host).ok_or_else(|| {
            format!("{host} could not be read, so the cluster environment cannot name it: check that it is on and reachable, then retry")
        })?;
        if f.link_addresses.is_empty() {
            return Err(format!(
                "{host} has no address on its QSFP link: run `sparklink up` first"
            ));
        }
        all.push((host.clone(), f));
    }
    let Some((_, mine)) = all.iter().find(|(h, _)| h == me) else {
        return Err(format!("{me} is not a host of this play"));
    };
    let up = addressed(mine);
    let mut hcas: Vec<&str> = Vec::new();
    for iface in mine
        .interfaces
        .iter()
        .filter(|i| mine.cabled_ports.contains(&i.port))
    {
        if !hcas.contains(&iface.rdma.as_str()) {
            hcas.push(&iface.rdma);
        }
    }
    let ifnames = up.join(",");
    // TensorPipe looks TP_SOCKET_IFNAME up as one interface name; the others
    // take a comma-separated list.
    let first = up.first().copied().unwrap_or_default().to_owned();
    let own = mine.link_addresses[0].clone();
    let master = all[0].1.link_addresses[0].clone();
    let vars = vec![
        ("NCCL_SOCKET_IFNAME", ifnames.clone()),
        ("UCX_NET_DEVICES", ifnames.clone()),
        ("OMPI_MCA_btl_tcp_if_include", ifnames.clone()),
        ("GLOO_SOCKET_IFNAME", ifnames),
        ("TP_SOCKET_IFNAME", first),
        ("NCCL_IB_HCA", hcas.join(",")),
        ("MASTER_ADDR", master),
        ("SPARKLINK_LINK_ADDR", own.clone()),
        ("VLLM_HOST_IP", own),
    ];
    let hosts_lines = all
        .iter()
        .filter_map(|(host, f)| link_name(host).map(|name| (f.link_addresses[0].clone(), name)))
        .collect();
    let hostfile = all
        .iter()
        .map(|(_, f)| f.link_addresses[0].clone())
        .collect();
    Ok(ClusterEnv {
        vars,
        hosts: hosts_lines,
        hostfile,
    })
}

pub async fn run(ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let play = Play::new(ctx.vars);
    let (me, hosts) = (&play.me, &play.hosts);
    let facts = |host: &str| play.qsfp(host);
    let names = Value::Object(
        hosts
            .iter()
            .map(|h| (h.clone(), link_name(h).into_iter().collect()))
            .collect(),
    );
    let unaddressed = hosts
        .iter()
        .find(|h| facts(h).is_some_and(|f| f.link_addresses.is_empty()));
    if let (true, Some(host)) = (ctx.check, unaddressed) {
        let mut fact = Vars::new();
        fact.insert("ready".into(), false.into());
        fact.insert("vars".into(), Value::Object(Vars::new()));
        fact.insert("names".into(), names);
        let mut outcome = Outcome {
            skipped: true,
            msg: format!("{host} has no link address yet (check mode): the environment follows from the applied link"),
            ..Outcome::default()
        };
        outcome
            .facts
            .insert("cluster_env".into(), Value::Object(fact));
        return Ok(outcome);
    }
    let env = compute(me, hosts, &facts).map_err(ModuleError::Failed)?;
    let file = env.file(me);
    let hostfile = env.hostfile_text();
    let mut fact = Vars::new();
    fact.insert("ready".into(), true.into());
    fact.insert(
        "vars".into(),
        Value::Object(
            env.vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(v.clone())))
                .collect(),
        ),
    );
    fact.insert("file".into(), file.into());
    fact.insert("hostfile".into(), hostfile.into());
    fact.insert("hosts".into(), env.hosts_text().into());
    fact.insert("names".into(), names);
    let mut outcome = Outcome::default();
    outcome
        .facts
        .insert("cluster_env".into(), Value::Object(fact));
    Ok(outcome)
}

/// How the node's cluster.env and hostfile compare with the live link.
#[derive(Debug, PartialEq, Eq)]
pub enum Drift {
    /// Both files match.
    Current,
    /// Cannot be told (the other nodes could not be read): why.
    Unknown(String),
    /// The files are missing or stale: what is wrong, and the fix.
    Stale { value: String, diagnosis: String },
}

/// Reads the node's cluster.env and hostfile and compares them with what
/// the live link gives now.
pub async fn drift(ctx: &Context<'_>) -> Result<Drift, ModuleError> {
    let (file, hostfile) = futures::try_join!(read(ENV_FILE, ctx), read(HOSTFILE, ctx))?;
    let text = |f: Option<Current>| f.map(|f| String::from_utf8_lossy(&f.content).into_owned());
    let play = Play::new(ctx.vars);
    Ok(compare(
        &play.me,
        &play.hosts,
        &|h| play.qsfp(h),
        text(file).as_deref(),
        &text(hostfile).unwrap_or_default(),
    ))
}

/// [`drift`] without the I/O.
fn compare(
    me: &str,
    hosts: &[String],
    facts: &dyn Fn(&str) -> Option<Facts>,
    file: Option<&str>,
    hostfile: &str,
) -> Drift {
    let Some(file) = file else {
        return Drift::Stale {
            value: "missing".to_owned(),
            diagnosis: format!("{ENV_FILE} is missing: run `sparklink env` to write it"),
        };
    };
    let written = |key: &str| {
        file.lines()
            .find_map(|line| line.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(str::to_owned)
    };
    // Whatever else is known: the interfaces it names must be Up and
    // addressed now, or jobs fail with "Socket operation on non-socket".
    if let Some(mine) = facts(me) {
        let live = addressed(&mine);
        let named = written("NCCL_SOCKET_IFNAME").unwrap_or_default();
        let gone: Vec<&str> = named
            .split(',')
            .filter(|n| !n.is_empty() && !live.contains(n))
            .collect();
        if !gone.is_empty() || named.is_empty() {
            let fix = if live.is_empty() {
                "run `sparklink up` to address the link (it rewrites cluster.env)"
            } else {
                "run `sparklink env` to rewrite it"
            };
            let or = |list: String, none: &str| {
                if list.is_empty() {
                    none.to_owned()
                } else {
                    list
                }
            };
            return Drift::Stale {
                value: format!("names {}", or(named.clone(), "no interface")),
                diagnosis: format!(
                    "{ENV_FILE} names {}, not Up with an address now (Up and addressed: {}): {fix}",
                    or(gone.join(", "), "no interface"),
                    or(live.join(", "), "none"),
                ),
            };
        }
    }
    let env = match compute(me, hosts, facts) {
        Ok(env) => env,
        Err(why) => return Drift::Unknown(why),
    };
    let mut stale = Vec::new();
    for (key, value) in &env.vars {
        match written(key) {
            Some(w) if w == *value => {}
            Some(w) => stale.push(format!("{key}={w} but the link gives {value}")),
            None => stale.push(format!("{key} is missing (the link gives {value})")),
        }
    }
    if stale.is_empty() && file != env.file(me) {
        stale.push("it was edited by hand".to_owned());
    }
    if hostfile != env.hostfile_text() {
        stale.push(format!(
            "{HOSTFILE} no longer lists each node's link address"
        ));
    }
    if stale.is_empty() {
        Drift::Current
    } else {
        Drift::Stale {
            value: "stale".to_owned(),
            diagnosis: format!(
                "{ENV_FILE} is stale: {}: run `sparklink env` to rewrite it",
                stale.join("; ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(port: u8, addresses: &[&str]) -> Facts {
        let names = [
            ("enp1s0f0np0", "rocep1s0f0", 0),
            ("enP2p1s0f0np0", "roceP2p1s0f0", 0),
            ("enp1s0f1np1", "rocep1s0f1", 1),
            ("enP2p1s0f1np1", "roceP2p1s0f1", 1),
        ];
        let mut next = addresses.iter();
        let interfaces = names
            .iter()
            .map(|(name, rdma, p)| {
                let carrier = *p == port;
                let ips = if carrier {
                    next.next()
                        .map(|a| vec![(*a).to_owned()])
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                serde_json::from_value(json!({
                    "name": name, "rdma": rdma, "port": p, "carrier": carrier, "ips": ips
                }))
                .unwrap()
            })
            .collect();
        Facts {
            interfaces,
            cabled_ports: vec![port],
            up: Vec::new(),
            link_addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
            rdma_devices: Vec::new(),
        }
    }

    fn hosts() -> Vec<String> {
        vec!["spark-1".into(), "spark-2".into()]
    }

    #[test]
    fn static_addressing_on_port_1_names_both_rails() {
        let facts = |h: &str| match h {
            "spark-1" => Some(node(1, &["192.168.100.10", "192.168.101.10"])),
            _ => Some(node(1, &["192.168.100.11", "192.168.101.11"])),
        };
        let env = compute("spark-2", &hosts(), &facts).unwrap();
        insta::assert_snapshot!(env.file("spark-2"), @r"
        # The QSFP link of spark-2, for NCCL, MPI, Ray and PyTorch jobs.
        # Written by sparklink (`sparklink env`); `sparklink down` removes it.
        NCCL_SOCKET_IFNAME=enp1s0f1np1,enP2p1s0f1np1
        UCX_NET_DEVICES=enp1s0f1np1,enP2p1s0f1np1
        OMPI_MCA_btl_tcp_if_include=enp1s0f1np1,enP2p1s0f1np1
        GLOO_SOCKET_IFNAME=enp1s0f1np1,enP2p1s0f1np1
        TP_SOCKET_IFNAME=enp1s0f1np1
        NCCL_IB_HCA=rocep1s0f1,roceP2p1s0f1
        MASTER_ADDR=192.168.100.10
        SPARKLINK_LINK_ADDR=192.168.100.11
        VLLM_HOST_IP=192.168.100.11
        ");
        insta::assert_snapshot!(env.hostfile_text(), @r"
        # One QSFP link address per node, written by sparklink.
        192.168.100.10
        192.168.100.11
        ");
        insta::assert_snapshot!(env.hosts_text(), @r"
        192.168.100.10 spark-1-link
        192.168.100.11 spark-2-link
        ");
    }

    #[test]
    fn link_local_on_port_0_names_only_the_addressed_interface() {
        // Link-local addresses only the primary rail's interface; the
        // second rail has carrier but no address, so sockets cannot use it.
        let facts = |h: &str| match h {
            "spark-1" => Some(node(0, &["169.254.10.1"])),
            _ => Some(node(0, &["169.254.20.2"])),
        };
        let env = compute("spark-1", &hosts(), &facts).unwrap();
        let vars: Vec<String> = env.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        insta::assert_snapshot!(vars.join("\n"), @r"
        NCCL_SOCKET_IFNAME=enp1s0f0np0
        UCX_NET_DEVICES=enp1s0f0np0
        OMPI_MCA_btl_tcp_if_include=enp1s0f0np0
        GLOO_SOCKET_IFNAME=enp1s0f0np0
        TP_SOCKET_IFNAME=enp1s0f0np0
        NCCL_IB_HCA=rocep1s0f0,roceP2p1s0f0
        MASTER_ADDR=169.254.10.1
        SPARKLINK_LINK_ADDR=169.254.10.1
        VLLM_HOST_IP=169.254.10.1
        ");
    }

    #[test]
    fn a_node_without_link_address_or_facts_or_a_lone_node_is_refused() {
        let unaddressed = |h: &str| match h {
            "spark-1" => Some(node(1, &["192.168.100.10"])),
            _ => Some(node(1, &[])),
        };
        insta::assert_snapshot!(
            compute("spark-1", &hosts(), &unaddressed).unwrap_err(),
            @"spark-2 has no address on its QSFP link: run `sparklink up` first"
        );
        let silent = |h: &str| (h == "spark-1").then(|| node(1, &["192.168.100.10"]));
        insta::assert_snapshot!(
            compute("spark-1", &hosts(), &silent).unwrap_err(),
            @"spark-2 could not be read, so the cluster environment cannot name it: check that it is on and reachable, then retry"
        );
        insta::assert_snapshot!(
            compute("spark-1", &hosts()[..1], &unaddressed).unwrap_err(),
            @"the cluster environment names every node, but the play has only spark-1: run against all nodes (drop --limit)"
        );
    }

    #[test]
    fn link_names_are_valid_host_names_or_none() {
        assert_eq!(link_name("spark-2").as_deref(), Some("spark-2-link"));
        assert_eq!(link_name("dgx.lab").as_deref(), Some("dgx.lab-link"));
        assert_eq!(link_name("spark_2"), None);
        assert_eq!(link_name("x; touch /tmp/pwned"), None);
        assert_eq!(link_name("-x"), None);
    }

    #[test]
    fn drift_is_named_with_its_fix() {
        let healthy = |h: &str| match h {
            "spark-1" => Some(node(1, &["192.168.100.10", "192.168.101.10"])),
            _ => Some(node(1, &["192.168.100.11", "192.168.101.11"])),
        };
        let env = compute("spark-1", &hosts(), &healthy).unwrap();
        let file = env.file("spark-1");
        let hostfile = env.hostfile_text();
        let check = |facts: &dyn Fn(&str) -> Option<Facts>, file: Option<&str>, hostfile: &str| {
            match compare("spark-1", &hosts(), facts, file, hostfile) {
                Drift::Current => "current".to_owned(),
                Drift::Unknown(why) => format!("unknown: {why}"),
                Drift::Stale { value, diagnosis } => format!("{value}: {diagnosis}"),
            }
        };
        assert_eq!(check(&healthy, Some(&file), &hostfile), "current");
        insta::assert_snapshot!(check(&healthy, None, &hostfile), @"missing: /etc/sparklink/cluster.env is missing: run `sparklink env` to write it");
        let edited = file.replace("MASTER_ADDR=192.168.100.10", "MASTER_ADDR=10.0.0.1");
        insta::assert_snapshot!(check(&healthy, Some(&edited), &hostfile), @"stale: /etc/sparklink/cluster.env is stale: MASTER_ADDR=10.0.0.1 but the link gives 192.168.100.10: run `sparklink env` to rewrite it");
        let commented = format!("{file}# mine\n");
        insta::assert_snapshot!(check(&healthy, Some(&commented), "x\n"), @"stale: /etc/sparklink/cluster.env is stale: it was edited by hand; /etc/sparklink/hostfile no longer lists each node's link address: run `sparklink env` to rewrite it");
        // The cable moved to port 0 on both nodes: port 1 has no carrier,
        // port 0 no address (netplan configures port 1's interfaces).
        let moved = |_: &str| Some(node(0, &[]));
        insta::assert_snapshot!(check(&moved, Some(&file), &hostfile), @"names enp1s0f1np1,enP2p1s0f1np1: /etc/sparklink/cluster.env names enp1s0f1np1, enP2p1s0f1np1, not Up with an address now (Up and addressed: none): run `sparklink up` to address the link (it rewrites cluster.env)");
        let silent =
            |h: &str| (h == "spark-1").then(|| node(1, &["192.168.100.10", "192.168.101.10"]));
        insta::assert_snapshot!(check(&silent, Some(&file), &hostfile), @"unknown: spark-2 could not be read, so the cluster environment cannot name it: check that it is on and reachable, then retry");
    }
}
