//! `sparklink verify` against the lab: exit 0 on a healthy link, and for
//! each fault a non-zero exit, the right diagnosis, and nodes left
//! byte-identical.

use crate::lab::{lab, Lab};
use crate::support::{sparklink, Run};

fn up(lab: &Lab) {
    let inventory = lab.inventory().display().to_string();
    sparklink(&["up", "-i", &inventory], Some(lab.password())).assert_code(0);
}

/// Runs verify (with the sudo password, so the netplan check runs too) and
/// checks that it changed nothing on either node.
fn verify(lab: &Lab) -> Run {
    let before = settled(lab);
    let inventory = lab.inventory().display().to_string();
    let run = sparklink(
        &["verify", "-i", &inventory, "--json"],
        Some(lab.password()),
    );
    assert_eq!(
        [lab.snapshot("spark-1"), lab.snapshot("spark-2")],
        before,
        "verify changed a node"
    );
    run
}

/// Both nodes' snapshots once the fault just made has settled (the
/// simulated networkd reacts to carrier changes within a few hundred ms).
fn settled(lab: &Lab) -> [String; 2] {
    let mut last = [lab.snapshot("spark-1"), lab.snapshot("spark-2")];
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = [lab.snapshot("spark-1"), lab.snapshot("spark-2")];
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the lab did not settle");
}

/// The diagnosis lines of `host`.
fn diagnosis(run: &Run, host: &str) -> String {
    let doc = run.json();
    let tasks = doc["plays"][0]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    tasks
        .iter()
        .find(|t| t["name"] == "check the link, cheapest first")
        .and_then(|t| t["results"][host]["msg"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_healthy_link_passes_read_only_and_without_a_password() {
    let lab = lab();
    up(&lab);
    verify(&lab).assert_code(0);
    let inventory = lab.inventory().display().to_string();
    let run = sparklink(&["verify", "-i", &inventory, "--json"], None);
    run.assert_code(0);
    let cell = run.json()["summaries"]["Link checks"]["spark-1"]["netplan"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(cell.starts_with("- needs root"), "{cell}");
    let speed = run.json()["summaries"]["Link checks"]["spark-1"]["speed"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(speed, "- 10000 Mb/s (veth: not a Spark link)");
}

#[test]
fn an_unplugged_cable_is_named() {
    let lab = lab();
    up(&lab);
    lab.cable(&[]);
    let run = verify(&lab);
    run.assert_code(2);
    assert!(
        diagnosis(&run, "spark-1")
            .contains("cable: no QSFP port is Up on spark-1: check the cable"),
        "{}",
        diagnosis(&run, "spark-1")
    );
}

#[test]
fn a_cable_moved_on_one_node_only_is_named() {
    let lab = lab();
    up(&lab);
    lab.cable(&[(0, 1)]);
    let run = verify(&lab);
    run.assert_code(2);
    let d = diagnosis(&run, "spark-1");
    assert!(d.contains("cable: the cable is in port 0 here and port 1 on spark-2: put it in the same port on both nodes"), "{d}");
}

#[test]
fn a_stopped_sshd_makes_the_node_unreachable_and_the_peer_fail_ssh() {
    let lab = lab();
    up(&lab);
    lab.sshd("spark-2", false);
    let run = verify(&lab);
    run.assert_code(2);
    assert_eq!(run.recap("spark-2", "unreachable"), 1);
    let d = diagnosis(&run, "spark-1");
    assert!(d.contains("spark-2 could not be read over the management network, so its link could not be checked: check that it is on and that its sshd runs"), "{d}");
}

#[test]
fn an_address_removed_by_hand_means_network_unreachable() {
    let lab = lab();
    up(&lab);
    lab.sh("spark-2", "ip addr del 192.168.101.11/24 dev enP2p1s0f1np1");
    let run = verify(&lab);
    run.assert_code(2);
    let d = diagnosis(&run, "spark-2");
    assert!(d.contains("addresses: 192.168.101.11/24 on enP2p1s0f1np1 missing on spark-2: the interface is not configured (\"Network unreachable\"): run `sparklink up`"), "{d}");
}

#[test]
fn a_hand_edited_netplan_file_is_drift() {
    let lab = lab();
    up(&lab);
    lab.sh(
        "spark-1",
        "sed -i 's/dhcp4: false/dhcp4: true/' /etc/netplan/40-cx7.yaml",
    );
    let run = verify(&lab);
    run.assert_code(2);
    let d = diagnosis(&run, "spark-1");
    assert!(
        d.contains("netplan: /etc/netplan/40-cx7.yaml differs from what the inventory gives"),
        "{d}"
    );
}

#[test]
fn an_mtu_changed_on_one_end_is_a_mismatch() {
    let lab = lab();
    up(&lab);
    lab.sh("spark-2", "ip link set dev enp1s0f1np1 mtu 9000");
    let run = verify(&lab);
    run.assert_code(2);
    let d = diagnosis(&run, "spark-1");
    assert!(
        d.contains(
            "mtu: MTU mismatch on enp1s0f1np1 between spark-1 and spark-2: set qsfp_mtu alike"
        ),
        "{d}"
    );
}

#[test]
fn a_key_removed_from_authorized_keys_means_ssh_authentication_fails() {
    let lab = lab();
    up(&lab);
    lab.sh(
        "spark-2",
        "sed -i '/sparklink$/d' /home/nvidia/.ssh/authorized_keys",
    );
    let run = verify(&lab);
    run.assert_code(2);
    let d = diagnosis(&run, "spark-1");
    assert!(
        d.contains("ssh: SSH authentication to spark-2 at 192.168.10"),
        "{d}"
    );
    assert!(d.contains("run `sparklink up`"), "{d}");
}
