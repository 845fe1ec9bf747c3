//! The engine against the lab: the real binary, real sshd, real sudo.

use crate::lab::lab;
use crate::support::{playbook, sparklink};

const FILE: &str = "/etc/netplan/sparklink-engine.txt";

fn stat(lab: &crate::lab::Lab, node: &str) -> String {
    lab.sh(node, &format!("stat -c '%U %a %i %Y' {FILE}"))
}

#[test]
fn playbook_runs_on_both_nodes_and_a_second_run_changes_nothing() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let book = playbook("engine.yml");
    let first = sparklink(
        &["run", &book, "-i", &inventory, "--json"],
        Some(lab.password()),
    );
    first.assert_code(0);
    assert_eq!(first.recap("spark-1", "changed"), 2, "template + file");
    assert_eq!(first.recap("spark-2", "failed"), 0);
    assert_eq!(
        lab.sh("spark-2", &format!("cat {FILE}")),
        "I am spark-2; the other node said spark-1.\n"
    );
    assert_eq!(
        lab.sh("spark-1", &format!("cat {FILE}")),
        "I am spark-1; the other node said spark-2.\n"
    );
    let before = stat(&lab, "spark-1");
    assert!(before.starts_with("root 600 "), "{before}");
    assert_eq!(
        lab.sh("spark-1", "stat -c '%a' /tmp/sparklink-engine"),
        "750\n"
    );

    let second = sparklink(
        &["run", &book, "-i", &inventory, "--json"],
        Some(lab.password()),
    );
    second.assert_code(0);
    for host in ["spark-1", "spark-2"] {
        assert_eq!(
            second.recap(host, "changed"),
            0,
            "{host} changed on the second run"
        );
    }
    assert_eq!(
        stat(&lab, "spark-1"),
        before,
        "the second run rewrote the file"
    );
}

#[test]
fn check_mode_changes_nothing() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let before = [lab.snapshot("spark-1"), lab.snapshot("spark-2")];
    let run = sparklink(
        &[
            "run",
            &playbook("engine.yml"),
            "-i",
            &inventory,
            "--check",
            "--json",
        ],
        Some(lab.password()),
    );
    run.assert_code(0);
    assert_eq!(
        run.recap("spark-1", "changed"),
        2,
        "check mode reports what would change"
    );
    assert_eq!([lab.snapshot("spark-1"), lab.snapshot("spark-2")], before);
    assert!(
        lab.exec("spark-1", "test -e /tmp/sparklink-engine")
            .status
            .code()
            == Some(1)
    );
}

#[test]
fn json_results_add_up_to_the_recap() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let run = sparklink(
        &["run", &playbook("engine.yml"), "-i", &inventory, "--json"],
        Some(lab.password()),
    );
    run.assert_code(0);
    let doc = run.json();
    for host in ["spark-1", "spark-2"] {
        let mut counted = std::collections::BTreeMap::<String, u64>::new();
        for task in doc["plays"][0]["tasks"].as_array().expect("tasks") {
            if let Some(status) = task["results"][host]["status"].as_str() {
                *counted.entry(status.to_owned()).or_default() += 1;
            }
        }
        for status in ["ok", "changed", "failed", "skipped", "unreachable"] {
            assert_eq!(
                counted.get(status).copied().unwrap_or(0),
                run.recap(host, status),
                "{host} {status}"
            );
        }
    }
}

#[test]
fn wrong_sudo_password_fails_before_any_change() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let before = lab.snapshot("spark-1");
    let run = sparklink(
        &["run", &playbook("engine.yml"), "-i", &inventory],
        Some("not-the-password"),
    );
    run.assert_code(2);
    assert!(
        run.stdout.contains("sudo on spark-1 rejected the password"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("not-the-password") && !run.stderr.contains("not-the-password"));
    assert_eq!(lab.snapshot("spark-1"), before);
}

#[test]
fn missing_sudo_password_says_how_to_give_one_and_nopasswd_needs_none() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    let run = sparklink(&["run", &playbook("engine.yml"), "-i", &inventory], None);
    run.assert_code(2);
    assert!(
        run.stdout
            .contains("sudo on spark-2 needs a password: pass -K"),
        "{}",
        run.stdout
    );
    lab.sudo_password(false);
    sparklink(&["run", &playbook("engine.yml"), "-i", &inventory], None).assert_code(0);
}

#[test]
fn a_node_with_sshd_stopped_is_unreachable_and_the_other_completes() {
    let lab = lab();
    let inventory = lab.inventory().display().to_string();
    lab.sshd("spark-2", false);
    let run = sparklink(
        &["run", &playbook("engine.yml"), "-i", &inventory, "--json"],
        Some(lab.password()),
    );
    run.assert_code(3);
    assert_eq!(run.recap("spark-2", "unreachable"), 1);
    assert_eq!(run.recap("spark-1", "failed"), 0);
    assert_eq!(run.recap("spark-1", "changed"), 2, "spark-1 went on alone");
    assert_eq!(
        lab.sh("spark-1", &format!("cat {FILE}")),
        "I am spark-1; the other node said .\n"
    );
    let message = run.json()["plays"][0]["tasks"][0]["results"]["spark-2"]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("spark-2 is unreachable") && message.contains("Connection refused"),
        "{message}"
    );
}

#[test]
fn an_unknown_host_key_is_refused_with_the_fix() {
    let lab = lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = std::fs::read_to_string(lab.ssh_config()).expect("ssh_config");
    let empty = dir.path().join("known_hosts");
    std::fs::write(&empty, "").expect("write");
    let config = config
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("UserKnownHostsFile") {
                format!("  UserKnownHostsFile {}", empty.display())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("ssh_config"), config).expect("write");
    let inventory = dir.path().join("inventory.yml");
    std::fs::write(
        &inventory,
        format!("sparks:\n  vars:\n    ansible_user: nvidia\n    sparklink_ssh_config: {}\n  hosts:\n    spark-1:\n      ansible_host: 198.18.0.11\n", dir.path().join("ssh_config").display()),
    )
    .expect("write");
    let run = sparklink(
        &[
            "run",
            &playbook("engine.yml"),
            "-i",
            &inventory.display().to_string(),
        ],
        Some(lab.password()),
    );
    run.assert_code(3);
    assert!(
        run.stdout.contains("the host key of spark-1 is not known"),
        "{}",
        run.stdout
    );
}
