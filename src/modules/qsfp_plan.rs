//! `qsfp_plan`: the preflight and the addressing of the QSFP link, decided on
//! the laptop from every node's facts before anything changes (seed steps
//! 1-3). It checks that the nodes share a login user, have distinct
//! hostnames and the same port cabled, then gives each node its interfaces
//! and addresses for the chosen `qsfp_addressing`, and lists its peers'.
//! Sets the fact `qsfp_plan`. Reads only variables; runs nothing.
//!
//! Variables (inventory, play or `-e`):
//! - `qsfp_addressing`: `static` (default), `link-local`, or `manual`;
//! - `qsfp_subnets`: the /24s (or any prefix) for `static`, two per cabled
//!   port, one per twin; default 192.168.100.0/24 … 192.168.103.0/24;
//! - `qsfp_host`: a host's number in those subnets (default 10, 11, … by position);
//! - `qsfp_addresses`: for `manual`, a map of interface to CIDR (or a list of CIDRs);
//! - `qsfp_persist`: `false` for addresses that do not survive a reboot (no netplan file);
//! - `qsfp_mtu`: the MTU, which must be the same on every node.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::Value;

use super::qsfp_facts::Facts;
use super::{Context, ModuleError, Outcome, Play};
use crate::vars::Vars;

const DEFAULT_SUBNETS: [&str; 4] = [
    "192.168.100.0/24",
    "192.168.101.0/24",
    "192.168.102.0/24",
    "192.168.103.0/24",
];

/// The `qsfp_plan` fact of one node.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Plan {
    pub mode: String,
    pub persist: bool,
    pub ports: Vec<u8>,
    pub mtu: Option<u32>,
    pub interfaces: Vec<PlannedInterface>,
    /// This node's link addresses, without prefix (empty for link-local:
    /// known only once applied).
    pub addresses: Vec<String>,
    pub peers: Vec<Peer>,
    /// What must be up before the change is confirmed: `IFACE=CIDR`, or
    /// `IFACE=link-local` on link-local interfaces that have carrier.
    pub expect: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlannedInterface {
    pub name: String,
    pub rdma: String,
    /// CIDRs to configure (empty with link-local).
    pub addresses: Vec<String>,
    pub link_local: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Peer {
    pub host: String,
    pub addresses: Vec<String>,
}

/// What the plan needs to know of one node.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub user: String,
    pub hostname: String,
    pub facts: Facts,
    pub vars: Vars,
}

pub fn run(ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let nodes = nodes_from_vars(ctx.vars)?;
    let me = Play::new(ctx.vars).me;
    let (plans, warnings) = plan(&nodes).map_err(ModuleError::Failed)?;
    let mine = plans
        .get(&me)
        .ok_or_else(|| ModuleError::Failed(format!("{me} is not among the planned nodes")))?;
    let value = serde_json::to_value(mine).map_err(|e| ModuleError::Failed(e.to_string()))?;
    let mut outcome = Outcome::default();
    outcome.facts.insert("qsfp_plan".into(), value.clone());
    outcome.data.insert("qsfp_plan".into(), value);
    let prefix = format!("{me}: ");
    outcome.warnings = warnings
        .iter()
        .filter_map(|w| w.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    Ok(outcome)
}

/// Reads every play host's facts and variables out of `hostvars`.
pub fn nodes_from_vars(vars: &Vars) -> Result<Vec<Node>, ModuleError> {
    let hosts: Vec<String> = vars
        .get("ansible_play_hosts")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let hostvars = vars.get("hostvars").and_then(Value::as_object);
    let mut nodes = Vec::new();
    for name in hosts {
        let Some(host) = hostvars
            .and_then(|h| h.get(&name))
            .and_then(Value::as_object)
        else {
            continue;
        };
        let missing = |what: &str| {
            ModuleError::Failed(format!(
                "{name} has no `{what}` fact: run `facts` and `qsfp_facts` before `qsfp_plan`"
            ))
        };
        let qsfp = host.get("qsfp").ok_or_else(|| missing("qsfp"))?;
        let facts: Facts = serde_json::from_value(qsfp.clone()).map_err(|_| missing("qsfp"))?;
        let text = |key: &str| host.get(key).and_then(Value::as_str).map(str::to_owned);
        nodes.push(Node {
            user: text("ansible_user_id").ok_or_else(|| missing("ansible_user_id"))?,
            hostname: text("ansible_hostname").ok_or_else(|| missing("ansible_hostname"))?,
            name,
            facts,
            vars: host.clone(),
        });
    }
    Ok(nodes)
}

/// Checks the nodes and plans every node's link; warnings are prefixed with
/// the node they concern (`spark-1: ...`).
pub fn plan(nodes: &[Node]) -> Result<(BTreeMap<String, Plan>, Vec<String>), String> {
    preflight(nodes)?;
    let mut warnings = Vec::new();
    let first = &nodes[0];
    let mode = text_var(&first.vars, "qsfp_addressing")?.unwrap_or_else(|| "static".to_owned());
    let persist = match first.vars.get("qsfp_persist") {
        None | Some(Value::Null) => true,
        Some(v) => {
            truthy(v).ok_or_else(|| format!("qsfp_persist must be true or false, not {v}"))?
        }
    };
    let mtu = mtu_of(nodes)?;
    for node in nodes {
        if text_var(&node.vars, "qsfp_addressing")?.unwrap_or_else(|| "static".to_owned()) != mode {
            return Err(format!(
                "qsfp_addressing differs between {} and {}: set it once, for the group",
                first.name, node.name
            ));
        }
    }
    let ports = first.facts.cabled_ports.clone();
    let mut interfaces: BTreeMap<String, Vec<PlannedInterface>> = BTreeMap::new();
    match mode.as_str() {
        "static" => {
            let subnets = subnets(&first.vars)?;
            if subnets.len() < ports.len() * 2 {
                return Err(format!(
                    "qsfp_subnets has {} subnets; {} cabled port(s) need {} (one per twin)",
                    subnets.len(),
                    ports.len(),
                    ports.len() * 2
                ));
            }
            for (position, node) in nodes.iter().enumerate() {
                let host_part = match node.vars.get("qsfp_host") {
                    None | Some(Value::Null) => {
                        u32::try_from(position).map_err(|e| e.to_string())? + 10
                    }
                    Some(v) => number(v).ok_or_else(|| {
                        format!("qsfp_host of {} must be a number, not {v}", node.name)
                    })?,
                };
                let mut list = Vec::new();
                for (i, port) in ports.iter().enumerate() {
                    for (rail, iface) in twins(&node.facts, *port).into_iter().enumerate() {
                        let (net, prefix) = subnets[i * 2 + rail];
                        list.push(PlannedInterface {
                            name: iface.name.clone(),
                            rdma: iface.rdma.clone(),
                            addresses: vec![host_in(net, prefix, host_part)
                                .map_err(|e| format!("{}: {e}", node.name))?],
                            link_local: false,
                        });
                    }
                }
                interfaces.insert(node.name.clone(), list);
            }
        }
        "link-local" => {
            if ports.len() > 1 {
                return Err("qsfp_addressing: link-local works with one cable only (the seed says so), and both ports are cabled: unplug one cable, or use static addressing".to_owned());
            }
            if !persist {
                return Err("qsfp_persist: false needs static or manual addresses; link-local is configured through netplan".to_owned());
            }
            for node in nodes {
                // The seed's option 1: the primary rail of each port.
                let list = node
                    .facts
                    .interfaces
                    .iter()
                    .filter(|i| i.name.starts_with("enp1s0"))
                    .map(|i| PlannedInterface {
                        name: i.name.clone(),
                        rdma: i.rdma.clone(),
                        addresses: Vec::new(),
                        link_local: true,
                    })
                    .collect();
                interfaces.insert(node.name.clone(), list);
            }
        }
        "manual" => {
            for node in nodes {
                let list = manual(node)?;
                warnings.extend(shared_subnets(&node.name, &list));
                interfaces.insert(node.name.clone(), list);
            }
        }
        other => {
            return Err(format!(
                "qsfp_addressing `{other}` is not one of static, link-local, manual"
            ))
        }
    }
    for node in nodes {
        for port in &ports {
            let down: Vec<&str> = node
                .facts
                .interfaces
                .iter()
                .filter(|i| i.port == *port && !i.carrier)
                .map(|i| i.name.as_str())
                .collect();
            if !down.is_empty() {
                warnings.push(format!("{}: {} of cabled port {port} has no carrier: that rail will carry no traffic (reseat the cable)", node.name, down.join(", ")));
            }
        }
    }
    let own: BTreeMap<String, Vec<String>> = interfaces
        .iter()
        .map(|(host, list)| {
            let addrs = list
                .iter()
                .flat_map(|i| {
                    i.addresses
                        .iter()
                        .map(|a| a.split('/').next().unwrap_or(a).to_owned())
                })
                .collect();
            (host.clone(), addrs)
        })
        .collect();
    let mut plans = BTreeMap::new();
    for node in nodes {
        let peers = nodes
            .iter()
            .filter(|n| n.name != node.name)
            .map(|n| Peer {
                host: n.name.clone(),
                addresses: own.get(&n.name).cloned().unwrap_or_default(),
            })
            .collect();
        let planned = interfaces.remove(&node.name).unwrap_or_default();
        let expect = planned
            .iter()
            .flat_map(|i| {
                let carrier = node
                    .facts
                    .interfaces
                    .iter()
                    .any(|f| f.name == i.name && f.carrier);
                // A port without carrier gets no address (netplan leaves it down).
                if !carrier {
                    return Vec::new();
                }
                let mut list: Vec<String> = i
                    .addresses
                    .iter()
                    .map(|a| format!("{}={a}", i.name))
                    .collect();
                if i.link_local {
                    list.push(format!("{}=link-local", i.name));
                }
                list
            })
            .collect();
        plans.insert(
            node.name.clone(),
            Plan {
                expect,
                mode: mode.clone(),
                persist,
                ports: ports.clone(),
                mtu,
                interfaces: planned,
                addresses: own.get(&node.name).cloned().unwrap_or_default(),
                peers,
            },
        );
    }
    Ok((plans, warnings))
}

/// Seed steps 1-2: same user, distinct hostnames, the same port cabled.
fn preflight(nodes: &[Node]) -> Result<(), String> {
    if nodes.len() < 2 {
        let only = nodes
            .first()
            .map_or("no host".to_owned(), |n| format!("only {}", n.name));
        return Err(format!("the QSFP link has two ends but the play has {only}: run against both nodes (drop --limit)"));
    }
    let first = &nodes[0];
    for node in &nodes[1..] {
        if node.user != first.user {
            return Err(format!(
                "the login user differs: {} is `{}`, {} is `{}`; use the same user on every node (e.g. create `nvidia` with sudo on both, seed step 1)",
                first.name, first.user, node.name, node.user
            ));
        }
    }
    for (i, a) in nodes.iter().enumerate() {
        if let Some(b) = nodes[i + 1..].iter().find(|b| b.hostname == a.hostname) {
            return Err(format!("{} and {} both have the hostname `{}`: give each node its own (hostnamectl set-hostname)", a.name, b.name, a.hostname));
        }
    }
    for node in nodes {
        if node.facts.cabled_ports.is_empty() {
            return Err(format!(
                "no QSFP port is Up on {}: check the cable; if it is seated, reboot and retry",
                node.name
            ));
        }
    }
    for node in &nodes[1..] {
        if node.facts.cabled_ports != first.facts.cabled_ports {
            return Err(format!(
                "the nodes are cabled on different ports: {} on {}, {} on {}; cable the same port on both nodes",
                first.name,
                port_list(&first.facts.cabled_ports),
                node.name,
                port_list(&node.facts.cabled_ports)
            ));
        }
    }
    Ok(())
}

fn port_list(ports: &[u8]) -> String {
    let names: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    names.join(" and ")
}

/// The two netdevs of a physical port, primary rail first.
fn twins(facts: &Facts, port: u8) -> Vec<&super::qsfp_facts::Interface> {
    facts.interfaces.iter().filter(|i| i.port == port).collect()
}

fn mtu_of(nodes: &[Node]) -> Result<Option<u32>, String> {
    let mut seen: Option<(String, Option<u32>)> = None;
    for node in nodes {
        let mtu = match node.vars.get("qsfp_mtu") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = number(v).ok_or_else(|| {
                    format!("qsfp_mtu of {} must be a number, not {v}", node.name)
                })?;
                if !(576..=9216).contains(&n) {
                    return Err(format!(
                        "qsfp_mtu {n} of {} is outside 576..9216",
                        node.name
                    ));
                }
                Some(n)
            }
        };
        match &seen {
            Some((other, m)) if *m != mtu => {
                return Err(format!("qsfp_mtu differs: {other} {m:?}, {} {mtu:?}; both ends of a link need the same MTU", node.name))
            }
            _ => seen = Some((node.name.clone(), mtu)),
        }
    }
    Ok(seen.and_then(|(_, m)| m))
}

fn subnets(vars: &Vars) -> Result<Vec<(Ipv4Addr, u8)>, String> {
    let list: Vec<String> = match vars.get("qsfp_subnets") {
        None | Some(Value::Null) => DEFAULT_SUBNETS.iter().map(|s| (*s).to_owned()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        Some(other) => return Err(format!("qsfp_subnets must be a list of CIDRs, not {other}")),
    };
    list.iter()
        .map(|s| parse_cidr(s).map_err(|e| format!("qsfp_subnets: {e}")))
        .collect()
}

fn manual(node: &Node) -> Result<Vec<PlannedInterface>, String> {
    let Some(Value::Object(map)) = node.vars.get("qsfp_addresses") else {
        return Err(format!(
            "qsfp_addressing is manual but {} has no qsfp_addresses map (interface: CIDR)",
            node.name
        ));
    };
    let mut list = Vec::new();
    for (name, value) in map {
        let iface = node
            .facts
            .interfaces
            .iter()
            .find(|i| i.name == *name)
            .ok_or_else(|| {
                format!(
                    "qsfp_addresses of {} names `{name}`, which is not a QSFP interface of it",
                    node.name
                )
            })?;
        let cidrs: Vec<String> = match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            other => {
                return Err(format!(
                    "qsfp_addresses.{name} of {} must be a CIDR, not {other}",
                    node.name
                ))
            }
        };
        for cidr in &cidrs {
            let (addr, _) = parse_cidr(cidr)
                .map_err(|e| format!("qsfp_addresses.{name} of {}: {e}", node.name))?;
            if addr.octets()[3] == 0 {
                return Err(format!(
                    "qsfp_addresses.{name} of {}: {cidr} is a network address, not a host",
                    node.name
                ));
            }
        }
        list.push(PlannedInterface {
            name: name.clone(),
            rdma: iface.rdma.clone(),
            addresses: cidrs,
            link_local: false,
        });
    }
    // Keep the facts' order: primary rail first, port 0 first.
    list.sort_by_key(|p| node.facts.interfaces.iter().position(|i| i.name == p.name));
    Ok(list)
}

/// Two interfaces of one node in one subnet: the seed's option 2 does it,
/// and it confuses routing (reference §3). A warning, not an error.
pub fn shared_subnets(node: &str, list: &[PlannedInterface]) -> Vec<String> {
    let mut seen: BTreeMap<(u32, u8), &str> = BTreeMap::new();
    let mut warnings = Vec::new();
    for iface in list {
        for cidr in &iface.addresses {
            if let Ok((addr, prefix)) = parse_cidr(cidr) {
                let key = (network(addr, prefix), prefix);
                if let Some(other) = seen.get(&key) {
                    warnings.push(format!(
                        "{node}: {other} and {} share {}/{prefix}: traffic may leave by either; give each interface its own subnet (reference §3)",
                        iface.name,
                        Ipv4Addr::from(key.0)
                    ));
                } else {
                    seen.insert(key, &iface.name);
                }
            }
        }
    }
    warnings
}

fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, prefix) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a CIDR like 192.168.100.0/24"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| format!("`{text}` has a bad prefix length"))?;
    if !(8..=30).contains(&prefix) {
        return Err(format!("`{text}`: the prefix must be between /8 and /30"));
    }
    Ok((addr, prefix))
}

fn network(addr: Ipv4Addr, prefix: u8) -> u32 {
    u32::from(addr) & (u32::MAX << (32 - u32::from(prefix)))
}

/// Host number `n` of a subnet, as a CIDR.
fn host_in(net: Ipv4Addr, prefix: u8, n: u32) -> Result<String, String> {
    let size = 1u32 << (32 - u32::from(prefix));
    if n == 0 || n >= size - 1 {
        return Err(format!("host number {n} does not fit in {net}/{prefix}"));
    }
    Ok(format!(
        "{}/{prefix}",
        Ipv4Addr::from(network(net, prefix) + n)
    ))
}

fn text_var(vars: &Vars, key: &str) -> Result<Option<String>, String> {
    match vars.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(other) => Err(format!("{key} must be a string, not {other}")),
    }
}

fn number(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::qsfp_facts::Interface;
    use serde_json::json;

    fn facts(cabled: &[u8]) -> Facts {
        let mut interfaces = Vec::new();
        for port in [0u8, 1] {
            for (name, rdma) in [
                (format!("enp1s0f{port}np{port}"), format!("rocep1s0f{port}")),
                (
                    format!("enP2p1s0f{port}np{port}"),
                    format!("roceP2p1s0f{port}"),
                ),
            ] {
                interfaces.push(Interface {
                    name,
                    rdma,
                    port,
                    carrier: cabled.contains(&port),
                    mtu: Some(1500),
                    speed: None,
                    addresses: Vec::new(),
                    ips: Vec::new(),
                });
            }
        }
        Facts {
            interfaces,
            cabled_ports: cabled.to_vec(),
            up: Vec::new(),
            link_addresses: Vec::new(),
            rdma_devices: Vec::new(),
        }
    }

    fn node(name: &str, cabled: &[u8], vars: serde_json::Value) -> Node {
        Node {
            name: name.to_owned(),
            user: "nvidia".to_owned(),
            hostname: name.to_owned(),
            facts: facts(cabled),
            vars: vars.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn static_default_is_nvidias_current_layout() {
        let (plans, warnings) = plan(&[
            node("spark-1", &[1], json!({})),
            node("spark-2", &[1], json!({})),
        ])
        .unwrap();
        assert!(warnings.is_empty());
        insta::assert_json_snapshot!(plans);
    }

    #[test]
    fn two_cables_use_the_next_two_subnets() {
        let (plans, _) = plan(&[
            node("a", &[0, 1], json!({})),
            node("b", &[0, 1], json!({"qsfp_host": 20})),
        ])
        .unwrap();
        let b: Vec<&str> = plans["b"]
            .interfaces
            .iter()
            .map(|i| i.addresses[0].as_str())
            .collect();
        assert_eq!(
            b,
            [
                "192.168.100.20/24",
                "192.168.101.20/24",
                "192.168.102.20/24",
                "192.168.103.20/24"
            ]
        );
        assert_eq!(
            plans["a"].peers[0].addresses,
            [
                "192.168.100.20",
                "192.168.101.20",
                "192.168.102.20",
                "192.168.103.20"
            ]
        );
    }

    #[test]
    fn link_local_is_the_seeds_option_1_and_refuses_two_cables() {
        let v = json!({"qsfp_addressing": "link-local"});
        let (plans, _) = plan(&[node("a", &[1], v.clone()), node("b", &[1], v.clone())]).unwrap();
        let names: Vec<&str> = plans["a"]
            .interfaces
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(names, ["enp1s0f0np0", "enp1s0f1np1"]);
        assert!(plans["a"]
            .interfaces
            .iter()
            .all(|i| i.link_local && i.addresses.is_empty()));
        let err = plan(&[node("a", &[0, 1], v.clone()), node("b", &[0, 1], v)]).unwrap_err();
        insta::assert_snapshot!(err, @"qsfp_addressing: link-local works with one cable only (the seed says so), and both ports are cabled: unplug one cable, or use static addressing");
    }

    #[test]
    fn manual_reproduces_the_seeds_option_2_with_a_warning() {
        let one = json!({"qsfp_addressing": "manual", "qsfp_addresses": {
            "enp1s0f0np0": "192.168.100.10/24", "enp1s0f1np1": "192.168.200.12/24",
            "enP2p1s0f0np0": "192.168.100.14/24", "enP2p1s0f1np1": "192.168.200.16/24"}});
        let two = json!({"qsfp_addressing": "manual", "qsfp_addresses": {
            "enp1s0f0np0": "192.168.100.11/24", "enp1s0f1np1": "192.168.200.13/24",
            "enP2p1s0f0np0": "192.168.100.15/24", "enP2p1s0f1np1": "192.168.200.17/24"}});
        let (plans, warnings) =
            plan(&[node("spark-1", &[1], one), node("spark-2", &[1], two)]).unwrap();
        assert_eq!(
            plans["spark-1"].addresses,
            [
                "192.168.100.10",
                "192.168.100.14",
                "192.168.200.12",
                "192.168.200.16"
            ]
        );
        insta::assert_debug_snapshot!(warnings);
    }

    #[test]
    fn preflight_errors() {
        let err = plan(&[
            node("spark-1", &[1], json!({})),
            node("spark-2", &[], json!({})),
        ])
        .unwrap_err();
        insta::assert_snapshot!(err, @"no QSFP port is Up on spark-2: check the cable; if it is seated, reboot and retry");
        let err = plan(&[
            node("spark-1", &[1], json!({})),
            node("spark-2", &[0], json!({})),
        ])
        .unwrap_err();
        insta::assert_snapshot!(err, @"the nodes are cabled on different ports: spark-1 on port 1, spark-2 on port 0; cable the same port on both nodes");
        let err = plan(&[node("spark-1", &[1], json!({}))]).unwrap_err();
        insta::assert_snapshot!(err, @"the QSFP link has two ends but the play has only spark-1: run against both nodes (drop --limit)");
        let mut other = node("spark-2", &[1], json!({}));
        other.user = "dgx".into();
        let err = plan(&[node("spark-1", &[1], json!({})), other]).unwrap_err();
        insta::assert_snapshot!(err, @"the login user differs: spark-1 is `nvidia`, spark-2 is `dgx`; use the same user on every node (e.g. create `nvidia` with sudo on both, seed step 1)");
        let err = plan(&[
            node("a", &[1], json!({"qsfp_mtu": 9000})),
            node("b", &[1], json!({"qsfp_mtu": 1500})),
        ])
        .unwrap_err();
        insta::assert_snapshot!(err, @"qsfp_mtu differs: a Some(9000), b Some(1500); both ends of a link need the same MTU");
    }
}
