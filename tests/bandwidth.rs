//! `sparklink verify --bandwidth` against the lab: iperf3 (the host's, which
//! the nodes share) measures each cabled rail over the link, server on
//! spark-2 started through the node-to-node SSH, client on spark-1; the
//! veths are named as not a Spark link; a node without any tool makes the
//! run fail saying what to install. Nodes are left as they were, with no
//! server running.

use serde_json::Value;

use crate::lab::{lab, Lab};
use crate::support::{sparklink, Run};

const TASK: &str = "measure each rail's bandwidth";
/// spark-1's end and spark-2's end of each rail `sparklink up` addresses.
const RAILS: [(&str, &str, &str); 2] = [
    ("enp1s0f1np1", "192.168.100.10", "192.168.100.11"),
    ("enP2p1s0f1np1", "192.168.101.10", "192.168.101.11"),
];

fn up(lab: &Lab) {
    let inventory = lab.inventory().display().to_string();
    sparklink(&["up", "-i", &inventory], Some(lab.password())).assert_code(0);
}

/// `verify --json` without a sudo password (the bandwidth needs none),
/// `extra` appended.
fn verify(lab: &Lab, extra: &[&str]) -> Run {
    let inventory = lab.inventory().display().to_string();
    let mut args = vec!["verify", "-i", &inventory, "--json"];
    args.extend_from_slice(extra);
    sparklink(&args, None)
}

/// The bandwidth task's result for `host`.
fn result(run: &Run, host: &str) -> Value {
    let doc = run.json();
    doc["plays"][0]["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["name"] == TASK))
        .map(|t| t["results"][host].clone())
        .unwrap_or_else(|| panic!("no task {TASK:?} in:\n{}", run.stdout))
}

/// Bytes received so far on each rail's interface of spark-2.
fn received(lab: &Lab) -> Vec<u64> {
    RAILS
        .iter()
        .map(|(iface, _, _)| {
            let text = lab.sh(
                "spark-2",
                &format!("cat /sys/class/net/{iface}/statistics/rx_bytes"),
            );
            text.trim()
                .parse()
                .unwrap_or_else(|e| panic!("rx_bytes of {iface}: {text:?}: {e}"))
        })
        .collect()
}

/// `15.0 Gb/s (iperf3)` -> 15.0.
fn gbps(cell: &str) -> f64 {
    let figure = cell
        .strip_suffix(" Gb/s (iperf3)")
        .unwrap_or_else(|| panic!("not a figure measured with iperf3: {cell:?}"));
    figure
        .parse()
        .unwrap_or_else(|e| panic!("{figure:?} is not a number: {e}"))
}

#[test]
fn bandwidth_is_measured_on_each_rail_with_iperf3_over_the_link() {
    let lab = lab();
    up(&lab);

    // Without the flag nothing is measured.
    let plain = verify(&lab, &[]);
    plain.assert_code(0);
    assert!(
        plain.json()["summaries"].get("Bandwidth").is_none(),
        "{}",
        plain.stdout
    );
    assert_eq!(result(&plain, "spark-1")["status"], "skipped");

    let before = [lab.snapshot("spark-1"), lab.snapshot("spark-2")];
    let bytes_before = received(&lab);
    let run = verify(&lab, &["--bandwidth", "-e", "verify_bandwidth_seconds=2"]);
    run.assert_code(0);
    let bytes_after = received(&lab);

    let table = run.json()["summaries"]["Bandwidth"]["spark-1"].clone();
    for (iface, _, _) in RAILS {
        let cell = table[iface].as_str().unwrap_or_default();
        assert!(gbps(cell) > 0.1, "{iface}: {cell}");
    }
    let total = table["total"].as_str().unwrap_or_default();
    assert!(
        total.ends_with("% of the 200 Gb/s line rate"),
        "total: {total}"
    );
    assert_eq!(
        table["note"],
        "virtual interface (veth), not a Spark link: the figure is not comparable"
    );
    assert_eq!(
        table["NVIDIA"],
        "~190 Gb/s over both rails with ib_write_bw"
    );

    let mine = result(&run, "spark-1");
    assert_eq!(mine["status"], "ok", "{mine}");
    let msg = mine["msg"].as_str().unwrap_or_default();
    assert!(msg.starts_with("to spark-2: enp1s0f1np1 "), "{msg}");
    assert!(msg.contains("not a Spark link"), "{msg}");
    let rails = mine["data"]["rails"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rails.len(), RAILS.len(), "{mine}");
    for ((iface, address, peer_address), rail) in RAILS.iter().zip(&rails) {
        assert_eq!(rail["interface"], *iface);
        assert_eq!(rail["address"], *address);
        assert_eq!(rail["peer_address"], *peer_address);
        assert_eq!(rail["peer"], "spark-2");
        assert_eq!(rail["tool"], "iperf3");
        assert_eq!(rail["virtual"], true);
        assert!(rail["gbps"].as_f64().unwrap_or_default() > 0.1, "{rail}");
    }
    // Only one node measures.
    assert_eq!(result(&run, "spark-2")["status"], "skipped");

    // The traffic crossed each rail: 2 s at more than 0.1 Gb/s is > 25 MB.
    for (i, (iface, _, _)) in RAILS.iter().enumerate() {
        let moved = bytes_after[i].saturating_sub(bytes_before[i]);
        assert!(
            moved > 25_000_000,
            "{iface} of spark-2 received {moved} bytes"
        );
    }

    // Read-only, and no iperf3 server (or anything else) left running.
    assert_eq!(
        [lab.snapshot("spark-1"), lab.snapshot("spark-2")],
        before,
        "verify --bandwidth changed a node or left a process behind"
    );
}

/// Hides `/usr/bin/iperf3` on a node (an unreadable device bound over it in
/// the node's own mount namespace: `command -v` no longer finds it); undone
/// on drop, also when the test fails.
struct Hidden<'a> {
    lab: &'a Lab,
    node: &'static str,
}

impl<'a> Hidden<'a> {
    fn iperf3(lab: &'a Lab, node: &'static str) -> Self {
        lab.sh(node, "mount --bind /dev/null /usr/bin/iperf3");
        Hidden { lab, node }
    }
}

impl Drop for Hidden<'_> {
    fn drop(&mut self) {
        let _ = self.lab.exec(self.node, "umount /usr/bin/iperf3");
    }
}

#[test]
fn without_a_tool_on_the_peer_it_fails_saying_what_to_install() {
    let lab = lab();
    up(&lab);
    let hidden = Hidden::iperf3(&lab, "spark-2");
    let before = [lab.snapshot("spark-1"), lab.snapshot("spark-2")];
    let run = verify(&lab, &["--bandwidth", "-e", "verify_bandwidth_seconds=2"]);
    let after = [lab.snapshot("spark-1"), lab.snapshot("spark-2")];
    drop(hidden);

    run.assert_code(2);
    let mine = result(&run, "spark-1");
    assert_eq!(mine["status"], "failed", "{mine}");
    assert_eq!(
        mine["msg"],
        "no bandwidth tool on both ends (spark-1: iperf3; spark-2: neither): install perftest (ib_write_bw) or iperf3 on both nodes"
    );
    // Only the bandwidth failed: the link checks passed on both nodes.
    assert_eq!(run.recap("spark-1", "failed"), 1);
    assert_eq!(run.recap("spark-2", "failed"), 0);
    assert!(run.json()["summaries"].get("Bandwidth").is_none());
    assert_eq!(after, before, "a failed measurement changed a node");
    // Undone: the tool is back on spark-2.
    assert!(lab.exec("spark-2", "command -v iperf3").status.success());
}
