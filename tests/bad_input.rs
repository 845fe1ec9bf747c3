//! Bad input never reaches a host: each malformed file or argument gives
//! exit code 4 and one line naming the file, host or key and the fix.
//! Needs no lab: nothing is contacted.

use std::path::Path;

use crate::support::sparklink;

/// An inventory of two hosts on documentation addresses: never contacted,
/// since every case here fails before any connection.
const INVENTORY: &str = "sparks:\n  hosts:\n    spark-1:\n      ansible_host: 192.0.2.11\n    spark-2:\n      ansible_host: 192.0.2.12\n";

fn case(dir: &Path, inventory: &str, playbook: &str, extra: &[&str]) -> String {
    std::fs::write(dir.join("inventory.yml"), inventory).expect("write");
    std::fs::write(dir.join("play.yml"), playbook).expect("write");
    let inv = dir.join("inventory.yml").display().to_string();
    let book = dir.join("play.yml").display().to_string();
    let mut args = vec!["run", book.as_str(), "-i", inv.as_str()];
    args.extend_from_slice(extra);
    let run = sparklink(&args, None);
    run.assert_code(4);
    assert!(
        run.stdout.is_empty(),
        "bad input printed to stdout: {}",
        run.stdout
    );
    run.stderr.replace(&dir.display().to_string(), "DIR")
}

#[test]
fn malformed_files_and_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ok_play = "- hosts: sparks\n  tasks:\n    - command: hostname\n";
    let mut report = String::new();
    let cases: Vec<(&str, String)> = vec![
        (
            "malformed inventory YAML",
            case(d, "sparks:\n  hosts: [unclosed\n", ok_play, &[]),
        ),
        (
            "unknown group key",
            case(d, "sparks:\n  host:\n    spark-1:\n", ok_play, &[]),
        ),
        (
            "bad port",
            case(
                d,
                "sparks:\n  hosts:\n    spark-1:\n      ansible_port: ssh\n",
                ok_play,
                &[],
            ),
        ),
        (
            "malformed playbook YAML",
            case(d, INVENTORY, "- hosts: sparks\n  tasks: [\n", &[]),
        ),
        (
            "unknown module",
            case(
                d,
                INVENTORY,
                "- hosts: sparks\n  tasks:\n    - comand: hostname\n",
                &[],
            ),
        ),
        (
            "unknown play key",
            case(d, INVENTORY, "- hosts: sparks\n  taks: []\n", &[]),
        ),
        (
            "two modules in a task",
            case(
                d,
                INVENTORY,
                "- hosts: sparks\n  tasks:\n    - command: a\n      shell: b\n",
                &[],
            ),
        ),
        (
            "hosts matching nothing",
            case(d, INVENTORY, "- hosts: gpus\n  tasks: []\n", &[]),
        ),
        (
            "--limit matching nothing",
            case(d, INVENTORY, ok_play, &["--limit", "spark-9"]),
        ),
        ("bad -e", case(d, INVENTORY, ok_play, &["-e", "novalue"])),
    ];
    for (name, stderr) in cases {
        report.push_str(&format!("{name}:\n{stderr}\n"));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn a_missing_inventory_says_how_to_give_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let run = sparklink(&["up", "-i", &missing.display().to_string()], None);
    run.assert_code(4);
    assert!(
        run.stderr.contains("inventory not found") && run.stderr.contains("pass -i PATH"),
        "{}",
        run.stderr
    );
}
