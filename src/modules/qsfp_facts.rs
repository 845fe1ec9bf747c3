//! `qsfp_facts`: what a Spark's ConnectX-7 looks like right now. Reads
//! `ibdev2netdev` (by content: its line order varies), each QSFP netdev's
//! carrier, MTU, speed and IPv4 addresses from sysfs and `ip`, and whether
//! RDMA devices exist. Sets the fact `qsfp`. Changes nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{strings, Context, ModuleError, Outcome};

/// One shell round trip gathers everything; sections start with `## `.
const GATHER: &str = r###"if ! command -v ibdev2netdev >/dev/null 2>&1; then echo "## missing ibdev2netdev"; exit 0; fi
echo "## ibdev2netdev"; ibdev2netdev 2>&1
for d in /sys/class/net/*; do n=${d##*/}
  echo "## if $n $(cat $d/carrier 2>/dev/null || echo -) $(cat $d/mtu 2>/dev/null || echo -) $(cat $d/speed 2>/dev/null || echo -) $(cat $d/operstate 2>/dev/null || echo -)"
done
echo "## addr"; ip -4 -o addr show 2>/dev/null
echo "## rdma"; ls /sys/class/infiniband 2>/dev/null || true"###;

/// A QSFP netdev as `ibdev2netdev` and sysfs show it. Other modules read
/// it back from `hostvars[host].qsfp`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// The RDMA device behind it (`rocep1s0f1`).
    pub rdma: String,
    /// Physical cage: 0 or 1 (the `npN` suffix).
    pub port: u8,
    /// Whether the netdev has carrier: a cable to a live peer.
    pub carrier: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Mb/s from sysfs; `None` when unknown (-1) or unreadable.
    #[serde(default)]
    pub speed: Option<u32>,
    /// IPv4 addresses in CIDR form.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// The same addresses without prefix.
    #[serde(default)]
    pub ips: Vec<String>,
}

/// The `qsfp` fact.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Facts {
    /// Every QSFP netdev, primary rail (`enp1s0…`) before the second (`enP2p…`), port 0 first.
    pub interfaces: Vec<Interface>,
    /// Physical ports whose netdevs have carrier.
    pub cabled_ports: Vec<u8>,
    /// Netdevs with carrier.
    #[serde(default)]
    pub up: Vec<String>,
    /// IPv4 addresses (no prefix) on the netdevs of cabled ports.
    #[serde(default)]
    pub link_addresses: Vec<String>,
    /// RDMA devices listed in /sys/class/infiniband.
    #[serde(default)]
    pub rdma_devices: Vec<String>,
}

pub async fn run(ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let out = ctx
        .remote
        .run(strings(&["sh", "-c", GATHER]), None, false)
        .await?;
    let text = out.stdout_text();
    if text.starts_with("## missing ibdev2netdev") {
        return Err(ModuleError::Failed(format!(
            "ibdev2netdev is not installed on {}: it ships with DGX OS (package mlnx-tools or ibverbs-utils); install it, or check that this host is a Spark",
            ctx.remote.host()
        )));
    }
    let facts =
        parse(&text).map_err(|e| ModuleError::Failed(format!("{}: {e}", ctx.remote.host())))?;
    let mut outcome = Outcome::default();
    let value = serde_json::to_value(&facts).map_err(|e| ModuleError::Failed(e.to_string()))?;
    outcome.facts.insert("qsfp".into(), value.clone());
    outcome.data.insert("qsfp".into(), value);
    Ok(outcome)
}

/// Parses the gathered text.
pub fn parse(text: &str) -> Result<Facts, String> {
    let mut section = "";
    let mut mapping: Vec<(String, String)> = Vec::new();
    let mut links: BTreeMap<String, (bool, Option<u32>, Option<u32>)> = BTreeMap::new();
    let mut addresses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rdma_devices = Vec::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("## ") {
            let mut words = header.split_whitespace();
            section = match words.next() {
                Some("if") => {
                    let fields: Vec<&str> = words.collect();
                    if let [name, carrier, mtu, speed, ..] = fields.as_slice() {
                        links.insert(
                            (*name).to_owned(),
                            (
                                *carrier == "1",
                                mtu.parse().ok(),
                                speed
                                    .parse::<i64>()
                                    .ok()
                                    .and_then(|s| u32::try_from(s).ok()),
                            ),
                        );
                    }
                    "if"
                }
                Some("ibdev2netdev") => "ib",
                Some("addr") => "addr",
                Some("rdma") => "rdma",
                _ => "",
            };
            continue;
        }
        match section {
            "ib" => {
                if let Some(pair) = parse_ibdev_line(line) {
                    mapping.push(pair);
                }
            }
            "addr" => {
                // `4: enp1s0f1np1    inet 192.168.100.10/24 brd ... scope global enp1s0f1np1`
                let words: Vec<&str> = line.split_whitespace().collect();
                if let Some(i) = words.iter().position(|w| *w == "inet") {
                    if let (Some(name), Some(cidr)) = (words.get(1), words.get(i + 1)) {
                        addresses
                            .entry(name.trim_end_matches(':').to_owned())
                            .or_default()
                            .push((*cidr).to_owned());
                    }
                }
            }
            "rdma" => rdma_devices.extend(line.split_whitespace().map(str::to_owned)),
            _ => {}
        }
    }
    if mapping.is_empty() {
        return Err(
            "ibdev2netdev listed no RDMA device: is the ConnectX-7 driver (mlx5_core) loaded?"
                .to_owned(),
        );
    }
    let mut interfaces = Vec::new();
    for (rdma, name) in mapping {
        let port = port_of(&name, &rdma)
            .ok_or_else(|| format!("cannot tell the physical port of {name} ({rdma})"))?;
        let (carrier, mtu, speed) = links.get(&name).copied().unwrap_or((false, None, None));
        let cidrs = addresses.remove(&name).unwrap_or_default();
        interfaces.push(Interface {
            ips: cidrs
                .iter()
                .map(|a| a.split('/').next().unwrap_or(a).to_owned())
                .collect(),
            addresses: cidrs,
            name,
            rdma,
            port,
            carrier,
            mtu,
            speed,
        });
    }
    interfaces.sort_by_key(|i| (i.port, !i.name.starts_with("enp"), i.name.clone()));
    let mut cabled_ports: Vec<u8> = interfaces
        .iter()
        .filter(|i| i.carrier)
        .map(|i| i.port)
        .collect();
    cabled_ports.dedup();
    let up = interfaces
        .iter()
        .filter(|i| i.carrier)
        .map(|i| i.name.clone())
        .collect();
    let link_addresses = interfaces
        .iter()
        .filter(|i| cabled_ports.contains(&i.port))
        .flat_map(|i| {
            i.addresses
                .iter()
                .map(|a| a.split('/').next().unwrap_or(a).to_owned())
        })
        .collect();
    Ok(Facts {
        interfaces,
        cabled_ports,
        up,
        link_addresses,
        rdma_devices,
    })
}

/// `rocep1s0f1 port 1 ==> enp1s0f1np1 (Up)` → (`rocep1s0f1`, `enp1s0f1np1`).
fn parse_ibdev_line(line: &str) -> Option<(String, String)> {
    let (left, right) = line.split_once("==>")?;
    let rdma = left.split_whitespace().next()?;
    let netdev = right.split_whitespace().next()?;
    Some((rdma.to_owned(), netdev.to_owned()))
}

/// The physical cage of a netdev: its `npN` suffix, else the RDMA device's `fN`.
pub fn port_of(netdev: &str, rdma: &str) -> Option<u8> {
    let from_suffix = netdev
        .rsplit_once("np")
        .and_then(|(_, n)| n.parse::<u8>().ok());
    from_suffix.or_else(|| {
        rdma.rsplit_once('f')
            .and_then(|(_, n)| n.parse::<u8>().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's output (port 1 cabled), in `ls /sys/class/infiniband` order.
    const SEED: &str = "## ibdev2netdev
roceP2p1s0f0 port 1 ==> enP2p1s0f0np0 (Down)
roceP2p1s0f1 port 1 ==> enP2p1s0f1np1 (Up)
rocep1s0f0 port 1 ==> enp1s0f0np0 (Down)
rocep1s0f1 port 1 ==> enp1s0f1np1 (Up)
## if enP7s7 1 1500 10000 up
## if enP2p1s0f0np0 0 1500 - down
## if enP2p1s0f1np1 1 1500 200000 up
## if enp1s0f0np0 0 1500 - down
## if enp1s0f1np1 1 9000 200000 up
## if lo 1 65536 - unknown
## addr
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
3: enp1s0f1np1    inet 192.168.100.10/24 brd 192.168.100.255 scope global enp1s0f1np1\\       valid_lft forever preferred_lft forever
## rdma
roceP2p1s0f0  roceP2p1s0f1  rocep1s0f0  rocep1s0f1
";

    #[test]
    fn reads_the_seed_layout_by_content() {
        let facts = parse(SEED).unwrap();
        assert_eq!(facts.cabled_ports, vec![1]);
        assert_eq!(facts.up, vec!["enp1s0f1np1", "enP2p1s0f1np1"]);
        assert_eq!(facts.link_addresses, vec!["192.168.100.10"]);
        let f1 = &facts.interfaces[2];
        assert_eq!(
            (
                f1.name.as_str(),
                f1.rdma.as_str(),
                f1.port,
                f1.mtu,
                f1.speed
            ),
            ("enp1s0f1np1", "rocep1s0f1", 1, Some(9000), Some(200000))
        );
        assert_eq!(facts.rdma_devices.len(), 4);
    }

    #[test]
    fn line_order_does_not_matter() {
        let shuffled = SEED.replace(
            "roceP2p1s0f0 port 1 ==> enP2p1s0f0np0 (Down)\nroceP2p1s0f1 port 1 ==> enP2p1s0f1np1 (Up)\n",
            "",
        ) .replace("## if enP7s7", "roceP2p1s0f1 port 1 ==> enP2p1s0f1np1 (Up)\nroceP2p1s0f0 port 1 ==> enP2p1s0f0np0 (Down)\n## if enP7s7");
        // The moved lines land in the ibdev2netdev section, reversed.
        assert_eq!(parse(&shuffled).unwrap(), parse(SEED).unwrap());
    }

    #[test]
    fn no_cable_means_no_cabled_port() {
        let text = SEED
            .replace("## if enP2p1s0f1np1 1", "## if enP2p1s0f1np1 0")
            .replace("## if enp1s0f1np1 1", "## if enp1s0f1np1 0");
        let facts = parse(&text).unwrap();
        assert!(facts.cabled_ports.is_empty());
        assert!(facts.link_addresses.is_empty());
    }

    #[test]
    fn ports_come_from_names() {
        assert_eq!(port_of("enP2p1s0f1np1", "roceP2p1s0f1"), Some(1));
        assert_eq!(port_of("enp1s0f0np0", "rocep1s0f0"), Some(0));
        assert_eq!(port_of("eth5", "rocep1s0f1"), Some(1));
    }

    #[test]
    fn empty_ibdev2netdev_is_an_error() {
        insta::assert_snapshot!(parse("## ibdev2netdev\n## addr\n").unwrap_err(), @"ibdev2netdev listed no RDMA device: is the ConnectX-7 driver (mlx5_core) loaded?");
    }
}
