//! Faults, secrets and concurrent runs against the lab: nothing is lost,
//! nothing leaks, and every message names the fault.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::lab::{lab, Lab};
use crate::support::{playbook, sparklink};

fn spawn(args: &[&str], password: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_sparklink"))
        .args(args)
        .env("SPARKLINK_BECOME_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sparklink")
}

/// Polls `script` on `node` until it succeeds.
fn wait_for(lab: &Lab, node: &str, script: &str) {
    let start = Instant::now();
    while !lab.exec(node, script).status.success() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for `{script}` on {node}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_second_run_is_refused_while_the_first_holds_the_lock_even_after_it_is_killed() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let slow = playbook("slow.yml");
    let mut first = spawn(&["run", &slow, "-i", &inventory], lab.password());
    wait_for(&lab, "spark-1", "pgrep -x sleep");
    let second = sparklink(&["run", &slow, "-i", &inventory], Some(lab.password()));
    second.assert_code(2);
    assert!(
        second
            .stdout
            .contains("another sparklink run is working on spark-1"),
        "{}",
        second.stdout
    );
    // The holder dies without cleaning up: the lock goes with it.
    first.kill().expect("kill");
    let _ = first.wait();
    let start = Instant::now();
    loop {
        let third = sparklink(&["run", &slow, "-i", &inventory], Some(lab.password()));
        if third.code == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the lock outlived its holder: {}",
            third.stdout
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_inventory_hosts_on_one_machine_share_the_lock_of_one_run() {
    let lab = lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = std::fs::read_to_string(lab.inventory()).expect("inventory");
    let twice = inventory.replace(
        "    spark-2:\n",
        "    spark-1-again:\n      ansible_host: 198.18.0.11\n    spark-2:\n",
    );
    assert_ne!(twice, inventory, "the lab inventory lists no spark-2");
    let path = dir.path().join("inventory.yml");
    std::fs::write(&path, twice).expect("write");
    let run = sparklink(
        &[
            "run",
            &playbook("midway.yml"),
            "-i",
            &path.display().to_string(),
            "--json",
        ],
        Some(lab.password()),
    );
    run.assert_code(0);
    assert_eq!(run.recap("spark-1-again", "changed"), 3);
}

#[test]
fn a_node_without_flock_is_failed_with_the_cause_not_called_busy() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    lab.sh("spark-2", "mount --bind /dev/null /usr/bin/flock");
    let run = sparklink(
        &["run", &playbook("midway.yml"), "-i", &inventory, "--json"],
        Some(lab.password()),
    );
    let _ = lab.exec("spark-2", "umount /usr/bin/flock");
    run.assert_code(2);
    assert_eq!(run.recap("spark-2", "failed"), 1);
    assert_eq!(run.recap("spark-1", "changed"), 3);
    assert!(
        run.stdout.contains(
            "cannot take the run lock: flock is not installed (it comes with util-linux)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("another sparklink run"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_sudo_password_never_shows_on_the_node_or_in_output() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let child = spawn(
        &["run", &playbook("slow.yml"), "-i", &inventory, "--json"],
        lab.password(),
    );
    wait_for(&lab, "spark-2", "pgrep -x sleep");
    for node in ["spark-1", "spark-2"] {
        let processes = lab.sh(node, "ps -eo args");
        assert!(
            processes.contains("sleep 3"),
            "the run is not visible: {processes}"
        );
        assert!(
            !processes.contains(lab.password()),
            "the password is in a process list on {node}:\n{processes}"
        );
    }
    let out = child.wait_with_output().expect("finish");
    assert_eq!(out.status.code(), Some(0));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains(lab.password()),
        "the password is in the output"
    );
}

#[test]
fn a_sudo_that_demands_a_tty_is_named() {
    let lab = lab();
    lab.sudo_tty(true);
    let inventory = lab.inventory().display().to_string();
    let run = sparklink(
        &["run", &playbook("slow.yml"), "-i", &inventory],
        Some(lab.password()),
    );
    run.assert_code(2);
    assert!(
        run.stdout
            .contains("sudo on spark-1 demands a terminal (Defaults requiretty)"),
        "{}",
        run.stdout
    );
}

#[test]
fn inventory_values_that_look_like_shell_are_inert() {
    let lab = lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = std::fs::read_to_string(lab.inventory()).expect("inventory");
    let evil = inventory.replace(
        "  vars:\n",
        "  vars:\n    evil: \"x; touch /tmp/pwned $(touch /tmp/pwned2)\"\n",
    );
    assert_ne!(
        evil, inventory,
        "the lab inventory has no group vars to extend"
    );
    let path = dir.path().join("inventory.yml");
    std::fs::write(&path, evil).expect("write");
    let run = sparklink(
        &[
            "run",
            &playbook("evil.yml"),
            "-i",
            &path.display().to_string(),
        ],
        Some(lab.password()),
    );
    run.assert_code(0);
    for node in ["spark-1", "spark-2"] {
        assert!(
            !lab.exec(node, "test -e /tmp/pwned || test -e /tmp/pwned2")
                .status
                .success(),
            "{node} ran inventory data"
        );
        assert_eq!(
            lab.sh(node, "cat /tmp/sparklink-evil.txt"),
            "x; touch /tmp/pwned $(touch /tmp/pwned2)\n"
        );
        assert_eq!(
            lab.sh(node, "cat /tmp/sparklink-evil-copy.txt"),
            "x; touch /tmp/pwned $(touch /tmp/pwned2)"
        );
    }
}

/// Puts spark-1's original host key back even if the test fails.
struct HostKeyRestore<'a>(&'a Lab);

impl Drop for HostKeyRestore<'_> {
    fn drop(&mut self) {
        self.0.exec("spark-1", "cp -p /root/hostkey.bak /etc/ssh/ssh_host_ed25519_key && cp -p /root/hostkey.pub.bak /etc/ssh/ssh_host_ed25519_key.pub");
        self.0.sshd("spark-1", false);
        self.0.sshd("spark-1", true);
    }
}

#[test]
fn a_changed_host_key_stops_the_run() {
    let lab = lab();
    lab.sh("spark-1", "cp -p /etc/ssh/ssh_host_ed25519_key /root/hostkey.bak && cp -p /etc/ssh/ssh_host_ed25519_key.pub /root/hostkey.pub.bak");
    let _restore = HostKeyRestore(&lab);
    lab.sh("spark-1", "rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key");
    lab.sshd("spark-1", false);
    lab.sshd("spark-1", true);
    let inventory = lab.inventory().display().to_string();
    let run = sparklink(&["verify", "-i", &inventory], None);
    run.assert_code(2);
    assert!(
        run.stdout
            .contains("the host key of spark-1 has changed since it was trusted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ssh-keygen -R 198.18.0.11"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_read_only_or_full_netplan_folder_keeps_the_old_file_intact() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    sparklink(&["up", "-i", &inventory], Some(lab.password())).assert_code(0);
    for mode in ["readonly", "full"] {
        lab.netplan_dir("spark-1", mode);
        let before = lab.sh(
            "spark-1",
            "sha256sum /etc/netplan/40-cx7.yaml; ip -br -4 addr show dev enp1s0f1np1",
        );
        let run = sparklink(
            &["up", "-i", &inventory, "-e", "qsfp_mtu=9000"],
            Some(lab.password()),
        );
        run.assert_code(2);
        assert!(
            run.stdout.contains(
                "could not write /etc/netplan/40-cx7.yaml on spark-1 (nothing was changed)"
            ),
            "{mode}: {}",
            run.stdout
        );
        assert_eq!(
            lab.sh(
                "spark-1",
                "sha256sum /etc/netplan/40-cx7.yaml; ip -br -4 addr show dev enp1s0f1np1"
            ),
            before,
            "{mode}"
        );
        lab.netplan_dir("spark-1", "normal");
        // spark-2 may have taken the new MTU: put both back in step.
        sparklink(&["up", "-i", &inventory], Some(lab.password())).assert_code(0);
    }
}

#[test]
fn sigint_or_sigterm_during_the_apply_closes_cleanly_and_a_rerun_converges() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    for signal in ["-INT", "-TERM"] {
        let child = spawn(
            &["up", "-i", &inventory, "-e", "qsfp_confirm_timeout=10"],
            lab.password(),
        );
        wait_for(&lab, "spark-1", "ls /run/sparklink/*.pid");
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill")
            .success());
        let out = child.wait_with_output().expect("finish");
        assert_eq!(
            out.status.code(),
            Some(130),
            "{signal}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
        // Whatever the interrupted run left, the next run converges and proves the link.
        sparklink(&["up", "-i", &inventory], Some(lab.password())).assert_code(0);
        sparklink(&["verify", "-i", &inventory], Some(lab.password())).assert_code(0);
        // Start the next round from a node without the link.
        sparklink(&["down", "-i", &inventory], Some(lab.password())).assert_code(0);
    }
}

#[test]
fn a_node_whose_sshd_dies_mid_playbook_is_unreachable_and_nothing_is_half_written() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let child = spawn(
        &["run", &playbook("midway.yml"), "-i", &inventory, "--json"],
        lab.password(),
    );
    wait_for(&lab, "spark-2", "pgrep -x sleep");
    // sshd stops and takes its sessions with it, as when the node goes
    // down: every sshd of the node, by PID, inside the node's namespaces.
    lab.sh(
        "spark-2",
        "for p in $(pgrep -x sshd); do kill \"$p\"; done; true",
    );
    lab.sshd("spark-2", false);
    let out = child.wait_with_output().expect("finish");
    let run = crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.assert_code(3);
    assert_eq!(run.recap("spark-2", "unreachable"), 1);
    // spark-1 ran all three tasks (a command counts as a change).
    assert_eq!(run.recap("spark-1", "changed"), 3);
    assert_eq!(run.recap("spark-1", "failed"), 0);
    let doc = run.json();
    let pause = doc["plays"][0]["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["name"] == "pause"))
        .map(|t| t["results"]["spark-2"].clone())
        .unwrap_or_default();
    assert_eq!(pause["status"], "unreachable", "{pause:#}");
    assert!(
        pause["msg"]
            .as_str()
            .is_some_and(|m| m.contains("lost the connection to spark-2")),
        "the message names the host: {pause:#}"
    );
    assert_eq!(lab.sh("spark-1", "cat /tmp/sparklink-midway"), "after\n");
    assert_eq!(
        lab.sh(
            "spark-2",
            "ls -a /tmp | grep -c -e sparklink-midway -e '^.sparklink'; true"
        ),
        "0\n",
        "nothing written, not even a temporary file"
    );
    // Once sshd is back, the same run converges.
    lab.sshd("spark-2", true);
    sparklink(
        &["run", &playbook("midway.yml"), "-i", &inventory],
        Some(lab.password()),
    )
    .assert_code(0);
    assert_eq!(lab.sh("spark-2", "cat /tmp/sparklink-midway"), "after\n");
}

#[test]
fn a_cable_pulled_during_up_rolls_both_nodes_back_to_where_they_were() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let pristine = [lab.snapshot("spark-1"), lab.snapshot("spark-2")];
    let child = spawn(
        &["up", "-i", &inventory, "-e", "qsfp_confirm_timeout=8"],
        lab.password(),
    );
    // Pull the cable once the apply has begun on spark-2 (its watchdog is armed).
    wait_for(&lab, "spark-2", "ls /run/sparklink/*.pid");
    lab.cable(&[]);
    let out = child.wait_with_output().expect("finish");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    for node in ["spark-1", "spark-2"] {
        assert!(
            stdout.contains(&format!(
                "{node} rolled back to its previous network configuration by itself after 8 s"
            )),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("expected addresses did not come up: enp1s0f1np1=192.168.100.11/24"),
        "the reason is named: {stdout}"
    );
    // The cable back in: both nodes are as they were, and up converges.
    lab.cable(&[(1, 1)]);
    let start = Instant::now();
    while [lab.snapshot("spark-1"), lab.snapshot("spark-2")] != pristine {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a node was left other than it was:\n{}\n{}",
            lab.snapshot("spark-1"),
            lab.snapshot("spark-2")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    sparklink(&["up", "-i", &inventory], Some(lab.password())).assert_code(0);
}
