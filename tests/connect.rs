//! `sparklink up` / `down` against the lab: every addressing mode, the
//! preflight errors, check mode, idempotence, rollback, and a clean undo.

use std::time::{Duration, Instant};

use crate::lab::{lab, Lab};
use crate::support::{sparklink, Run};

const NODES: [&str; 2] = ["spark-1", "spark-2"];

fn up(lab: &Lab, extra: &[&str]) -> Run {
    let inventory = lab.inventory().display().to_string();
    let mut args = vec!["up", "-i", inventory.as_str(), "--json"];
    args.extend_from_slice(extra);
    sparklink(&args, Some(lab.password()))
}

fn down(lab: &Lab) -> Run {
    let inventory = lab.inventory().display().to_string();
    sparklink(&["down", "-i", &inventory, "--json"], Some(lab.password()))
}

fn snapshots(lab: &Lab) -> Vec<String> {
    NODES.iter().map(|n| lab.snapshot(n)).collect()
}

/// `ssh <address> hostname` as nvidia on `from`, BatchMode: keys and
/// pinned host keys only (the config block sparklink wrote applies).
fn ssh_over_link(lab: &Lab, from: &str, address: &str) -> String {
    let out = lab.exec_as(
        from,
        "nvidia",
        &format!("ssh -o BatchMode=yes -o ConnectTimeout=5 {address} hostname"),
    );
    assert!(
        out.status.success(),
        "ssh from {from} to {address}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn message(run: &Run, task: &str, host: &str) -> String {
    let doc = run.json();
    doc["plays"][0]["tasks"]
        .as_array()
        .and_then(|tasks| {
            tasks
                .iter()
                .find(|t| t["name"].as_str().is_some_and(|n| n.starts_with(task)))
        })
        .and_then(|t| t["results"][host]["msg"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn static_default_connects_both_ways_is_idempotent_and_down_restores_everything() {
    let lab = lab();
    let pristine = snapshots(&lab);
    up(&lab, &[]).assert_code(0);
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );
    assert_eq!(
        lab.addresses("spark-1", "enP2p1s0f1np1"),
        ["192.168.101.10/24"]
    );
    assert_eq!(
        lab.addresses("spark-2", "enp1s0f1np1"),
        ["192.168.100.11/24"]
    );
    assert_eq!(
        lab.addresses("spark-2", "enP2p1s0f1np1"),
        ["192.168.101.11/24"]
    );
    assert_eq!(
        lab.sh("spark-1", "stat -c %a /etc/netplan/40-cx7.yaml"),
        "600\n"
    );
    assert_eq!(ssh_over_link(&lab, "spark-1", "192.168.101.11"), "spark-2");
    assert_eq!(ssh_over_link(&lab, "spark-2", "192.168.100.10"), "spark-1");
    let config = lab.sh("spark-1", "cat /home/nvidia/.ssh/config");
    assert!(
        config.contains("Host spark-2-link 192.168.100.11 192.168.101.11")
            && !config.contains("Host *"),
        "{config}"
    );
    let after_up = snapshots(&lab);

    let again = up(&lab, &[]);
    again.assert_code(0);
    for host in NODES {
        assert_eq!(
            again.recap(host, "changed"),
            0,
            "{host}: a second up changed something"
        );
    }
    assert_eq!(snapshots(&lab), after_up, "a second up rewrote something");

    down(&lab).assert_code(0);
    assert_eq!(
        snapshots(&lab),
        pristine,
        "down did not restore the starting state"
    );
}

#[test]
fn check_mode_shows_the_diff_and_leaves_both_nodes_byte_identical() {
    let lab = lab();
    let before = snapshots(&lab);
    let inventory = lab.inventory().display().to_string();
    let run = sparklink(
        &["up", "-i", &inventory, "--check", "--diff"],
        Some(lab.password()),
    );
    run.assert_code(0);
    assert!(
        run.stdout.contains("+        - 192.168.100.10/24"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("would create an ed25519 key"),
        "{}",
        run.stdout
    );
    assert_eq!(snapshots(&lab), before);
}

#[test]
fn no_cable_stops_before_any_change_with_the_seeds_advice() {
    let lab = lab();
    lab.cable(&[]);
    let before = snapshots(&lab);
    let run = up(&lab, &[]);
    run.assert_code(2);
    assert_eq!(
        message(&run, "check the nodes", "spark-1"),
        "no QSFP port is Up on spark-1: check the cable; if it is seated, reboot and retry"
    );
    assert_eq!(snapshots(&lab), before);
}

#[test]
fn different_ports_on_the_two_nodes_are_named() {
    let lab = lab();
    lab.cable(&[(0, 1)]);
    let before = snapshots(&lab);
    let run = up(&lab, &[]);
    run.assert_code(2);
    assert_eq!(
        message(&run, "check the nodes", "spark-2"),
        "the nodes are cabled on different ports: spark-1 on port 0, spark-2 on port 1; cable the same port on both nodes"
    );
    assert_eq!(snapshots(&lab), before);
}

#[test]
fn a_cable_in_port_0_addresses_port_0s_twins() {
    let lab = lab();
    lab.cable(&[(0, 0)]);
    up(&lab, &[]).assert_code(0);
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f0np0"),
        ["192.168.100.10/24"]
    );
    assert_eq!(
        lab.addresses("spark-2", "enP2p1s0f0np0"),
        ["192.168.101.11/24"]
    );
    assert!(lab.addresses("spark-1", "enp1s0f1np1").is_empty());
    assert_eq!(ssh_over_link(&lab, "spark-1", "192.168.100.11"), "spark-2");
}

#[test]
fn link_local_reads_back_the_169_254_addresses_and_connects() {
    let lab = lab();
    up(&lab, &["-e", "qsfp_addressing=link-local"]).assert_code(0);
    let file = lab.sh("spark-1", "cat /etc/netplan/40-cx7.yaml");
    assert!(
        file.contains("enp1s0f0np0:\n      link-local: [ ipv4 ]")
            && file.contains("enp1s0f1np1:\n      link-local: [ ipv4 ]"),
        "{file}"
    );
    let theirs = lab.addresses("spark-2", "enp1s0f1np1");
    assert_eq!(theirs.len(), 1);
    assert!(
        theirs[0].starts_with("169.254.") && theirs[0].ends_with("/16"),
        "{theirs:?}"
    );
    let address = theirs[0].trim_end_matches("/16");
    assert_eq!(ssh_over_link(&lab, "spark-1", address), "spark-2");
    assert!(
        lab.addresses("spark-1", "enp1s0f0np0").is_empty(),
        "no address on a port without carrier"
    );
}

#[test]
fn manual_reproduces_the_seeds_option_2_and_warns_about_shared_subnets() {
    let lab = lab();
    let vars = r#"{"qsfp_addressing": "manual"}"#;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("host_vars")).expect("mkdir");
    let inventory = std::fs::read_to_string(lab.inventory()).expect("inventory");
    std::fs::write(dir.path().join("hosts.yml"), inventory).expect("write");
    for (host, numbers) in [("spark-1", [10, 12, 14, 16]), ("spark-2", [11, 13, 15, 17])] {
        std::fs::write(
            dir.path().join("host_vars").join(format!("{host}.yml")),
            format!(
                "qsfp_addresses:\n  enp1s0f0np0: 192.168.100.{}/24\n  enp1s0f1np1: 192.168.200.{}/24\n  enP2p1s0f0np0: 192.168.100.{}/24\n  enP2p1s0f1np1: 192.168.200.{}/24\n",
                numbers[0], numbers[1], numbers[2], numbers[3]
            ),
        )
        .expect("write");
    }
    let path = dir.path().join("hosts.yml").display().to_string();
    let run = sparklink(&["up", "-i", &path, "-e", vars], Some(lab.password()));
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("enp1s0f1np1 and enP2p1s0f1np1 share 192.168.200.0/24"),
        "{}",
        run.stderr
    );
    assert_eq!(
        lab.addresses("spark-2", "enP2p1s0f1np1"),
        ["192.168.200.17/24"]
    );
    assert_eq!(ssh_over_link(&lab, "spark-2", "192.168.200.12"), "spark-1");
}

#[test]
fn non_persistent_uses_ip_and_down_deletes_exactly_those_addresses() {
    let lab = lab();
    let pristine = snapshots(&lab);
    up(&lab, &["-e", r#"{"qsfp_persist": false}"#]).assert_code(0);
    assert!(
        lab.exec("spark-1", "test -e /etc/netplan/40-cx7.yaml")
            .status
            .code()
            == Some(1),
        "no netplan file"
    );
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );
    assert_eq!(ssh_over_link(&lab, "spark-1", "192.168.100.11"), "spark-2");
    down(&lab).assert_code(0);
    assert_eq!(snapshots(&lab), pristine);
}

#[test]
fn a_foreign_netplan_file_on_the_same_interfaces_stops_the_run() {
    let lab = lab();
    lab.sh(
        "spark-2",
        "printf 'network:\\n  version: 2\\n  ethernets:\\n    enp1s0f1np1:\\n      addresses: [10.9.9.2/24]\\n' > /etc/netplan/99-nvidia-sync-cluster.yaml && chmod 600 /etc/netplan/99-nvidia-sync-cluster.yaml",
    );
    let before = lab.snapshot("spark-2");
    let run = up(&lab, &[]);
    run.assert_code(2);
    let msg = message(&run, "write and apply", "spark-2");
    assert!(
        msg.contains("/etc/netplan/99-nvidia-sync-cluster.yaml also configures enp1s0f1np1"),
        "{msg}"
    );
    assert_eq!(lab.snapshot("spark-2"), before);
}

#[test]
fn an_existing_key_is_used_and_never_overwritten() {
    let lab = lab();
    lab.exec_as(
        "spark-1",
        "nvidia",
        "ssh-keygen -q -t ed25519 -N '' -C mine -f ~/.ssh/id_ed25519",
    );
    let key = lab.sh("spark-1", "sha256sum /home/nvidia/.ssh/id_ed25519");
    up(&lab, &[]).assert_code(0);
    assert_eq!(
        lab.sh("spark-1", "sha256sum /home/nvidia/.ssh/id_ed25519"),
        key
    );
    let public = lab.sh("spark-1", "cat /home/nvidia/.ssh/id_ed25519.pub");
    assert!(lab
        .sh("spark-2", "cat /home/nvidia/.ssh/authorized_keys")
        .contains(public.trim()));
    down(&lab).assert_code(0);
    assert_eq!(
        lab.sh("spark-1", "sha256sum /home/nvidia/.ssh/id_ed25519"),
        key,
        "down removed a key it did not create"
    );
}

#[test]
fn a_management_link_cut_during_the_apply_rolls_back_by_itself() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sparklink"))
        .args([
            "up",
            "-i",
            &inventory,
            "-e",
            "qsfp_confirm_timeout=8",
            "--connect-timeout",
            "2",
        ])
        .env("SPARKLINK_BECOME_PASSWORD", lab.password())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sparklink");
    // Cut spark-2 off as soon as its watchdog is armed (the apply has begun).
    let start = Instant::now();
    while lab.exec("spark-2", "ls /run/sparklink/*.pid").status.code() != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the apply never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    lab.mgmt("spark-2", false);
    let cut = Instant::now();
    // The watchdog fires 8 s after the apply; restore the link after that.
    while cut.elapsed() < Duration::from_secs(9) {
        std::thread::sleep(Duration::from_millis(100));
    }
    lab.mgmt("spark-2", true);
    let out = child.wait_with_output().expect("sparklink finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(
            "spark-2 rolled back to its previous network configuration by itself after 8 s"
        ),
        "{stdout}"
    );
    assert!(
        lab.exec("spark-2", "test -e /etc/netplan/40-cx7.yaml")
            .status
            .code()
            == Some(1),
        "the file was not restored"
    );
    assert!(
        lab.addresses("spark-2", "enp1s0f1np1").is_empty(),
        "the addresses were not removed"
    );
}

#[test]
fn files_get_their_modes_and_private_keys_never_leave_their_node() {
    let lab = lab();
    let run = up(&lab, &[]);
    run.assert_code(0);
    for node in NODES {
        assert_eq!(
            lab.sh(
                node,
                "cd /home/nvidia/.ssh && stat -c '%a %U %n' /etc/netplan/40-cx7.yaml . id_ed25519 authorized_keys known_hosts config"
            ),
            "600 root /etc/netplan/40-cx7.yaml\n700 nvidia .\n600 nvidia id_ed25519\n600 nvidia authorized_keys\n600 nvidia known_hosts\n600 nvidia config\n",
            "{node}"
        );
    }
    for (node, peer) in [("spark-1", "spark-2"), ("spark-2", "spark-1")] {
        // A line from the middle of the private key: it is on its node only.
        let line = lab.sh(node, "sed -n 3p /home/nvidia/.ssh/id_ed25519");
        let needle = line.trim();
        assert!(needle.len() > 40, "not a key line: {needle:?}");
        assert!(
            !run.stdout.contains(needle) && !run.stderr.contains(needle),
            "the private key of {node} is in sparklink's output"
        );
        let grep = format!("grep -rlF -- '{needle}' /home /etc /tmp /run /root 2>/dev/null");
        assert_eq!(
            lab.exec(node, &grep).status.code(),
            Some(0),
            "the search finds the key on its own node"
        );
        let search = lab.exec(peer, &grep);
        assert_eq!(
            search.status.code(),
            Some(1),
            "the private key of {node} is on {peer}: {}",
            String::from_utf8_lossy(&search.stdout)
        );
    }
}

#[test]
fn down_puts_back_the_mtu_that_qsfp_mtu_raised() {
    let lab = lab();
    let pristine = snapshots(&lab);
    up(&lab, &["-e", "qsfp_mtu=9000"]).assert_code(0);
    for node in NODES {
        assert_eq!(
            lab.sh(
                node,
                "cat /sys/class/net/enp1s0f1np1/mtu /sys/class/net/enP2p1s0f1np1/mtu"
            ),
            "9000\n9000\n"
        );
    }
    // A second up keeps the first record (the MTU before sparklink).
    up(&lab, &["-e", "qsfp_mtu=9000"]).assert_code(0);
    assert_eq!(
        lab.sh("spark-1", "cat /etc/sparklink/mtu"),
        "enp1s0f1np1 1500\nenP2p1s0f1np1 1500\n"
    );
    down(&lab).assert_code(0);
    assert_eq!(
        snapshots(&lab),
        pristine,
        "down left the link other than it was"
    );
}

#[test]
fn an_earlier_40_cx7_yaml_is_kept_aside_and_down_puts_it_back() {
    let lab = lab();
    for (node, host) in [("spark-1", 1), ("spark-2", 2)] {
        lab.sh(
            node,
            &format!(
                "printf 'network:\\n  version: 2\\n  ethernets:\\n    enp1s0f1np1:\\n      addresses: [10.9.9.{host}/24]\\n' > /etc/netplan/40-cx7.yaml && chmod 600 /etc/netplan/40-cx7.yaml && netplan apply"
            ),
        );
    }
    let before = snapshots(&lab);
    let mine = lab.sh("spark-1", "cat /etc/netplan/40-cx7.yaml");
    up(&lab, &[]).assert_code(0);
    assert_eq!(
        lab.sh("spark-1", "cat /etc/sparklink/backup/40-cx7.yaml"),
        mine,
        "the earlier file is kept outside /etc/netplan"
    );
    assert!(lab
        .sh("spark-1", "head -n 1 /etc/netplan/40-cx7.yaml")
        .starts_with("# Written by sparklink"));
    down(&lab).assert_code(0);
    assert_eq!(lab.sh("spark-1", "cat /etc/netplan/40-cx7.yaml"), mine);
    assert_eq!(
        snapshots(&lab),
        before,
        "down did not put the earlier file back"
    );
    assert_eq!(lab.addresses("spark-1", "enp1s0f1np1"), ["10.9.9.1/24"]);
}
