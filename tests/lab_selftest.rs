//! Self-tests of the test lab (tests/lab): they prove that the simulated Sparks behave as
//! tests/lab/README.md says, so that sparklink's own lab tests can trust them.
//! Every test starts from a pristine lab (`crate::lab::lab()`), and runs as root.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::lab::{lab, Lab};

const QSFP: [&str; 4] = [
    "enp1s0f0np0",
    "enP2p1s0f0np0",
    "enp1s0f1np1",
    "enP2p1s0f1np1",
];

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Polls `f` every 50 ms until it returns Some, or panics after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Installs /etc/netplan/<name> (mode 600) on `node`.
fn write_netplan(lab: &Lab, node: &str, name: &str, yaml: &str) {
    lab.sh(
        node,
        &format!("cat >/etc/netplan/{name} <<'EOF'\n{yaml}\nEOF\nchmod 600 /etc/netplan/{name}"),
    );
}

fn netplan_apply(lab: &Lab, node: &str) {
    lab.sh(node, "netplan apply");
}

/// carrier (true/false) of the four QSFP netdevs of `node`
fn carriers(lab: &Lab, node: &str) -> BTreeMap<String, bool> {
    QSFP.iter()
        .map(|i| {
            let c = lab.sh(
                node,
                &format!("cat /sys/class/net/{i}/carrier 2>/dev/null || echo 0"),
            );
            (i.to_string(), c.trim() == "1")
        })
        .collect()
}

/// ibdev2netdev output of `node`, parsed: netdev -> (rdma device, "Up"/"Down"); also checks
/// the exact line format and the `ls /sys/class/infiniband` line order.
fn ibdev2netdev(lab: &Lab, node: &str) -> BTreeMap<String, (String, String)> {
    let out = lab.sh(node, "ibdev2netdev");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let mut map = BTreeMap::new();
    let mut order = Vec::new();
    for line in lines {
        // "rocep1s0f1 port 1 ==> enp1s0f1np1 (Up)"
        let w: Vec<&str> = line.split(' ').collect();
        assert_eq!(w.len(), 6, "bad line {line:?}");
        assert_eq!(
            (w[1], w[2], w[3]),
            ("port", "1", "==>"),
            "bad line {line:?}"
        );
        assert!(w[5] == "(Up)" || w[5] == "(Down)", "bad line {line:?}");
        order.push(w[0].to_string());
        map.insert(
            w[4].to_string(),
            (w[0].to_string(), w[5].trim_matches(['(', ')']).to_string()),
        );
    }
    assert_eq!(
        order,
        ["roceP2p1s0f0", "roceP2p1s0f1", "rocep1s0f0", "rocep1s0f1"]
    );
    map
}

/// Netdevs of the twins of `port`.
fn twins(port: u8) -> [&'static str; 2] {
    if port == 0 {
        ["enp1s0f0np0", "enP2p1s0f0np0"]
    } else {
        ["enp1s0f1np1", "enP2p1s0f1np1"]
    }
}

/// Asserts carrier and ibdev2netdev state of both nodes for the cables `ports`.
fn assert_cabled(lab: &Lab, ports: &[(u8, u8)]) {
    for (n, node) in ["spark-1", "spark-2"].iter().enumerate() {
        let up: Vec<&str> = ports
            .iter()
            .flat_map(|&(a, b)| twins(if n == 0 { a } else { b }))
            .collect();
        let carrier = carriers(lab, node);
        let ib = ibdev2netdev(lab, node);
        for iface in QSFP {
            let expect = up.contains(&iface);
            assert_eq!(
                carrier[iface], expect,
                "{node} {iface} carrier with cables {ports:?}"
            );
            assert_eq!(
                ib[iface].1,
                if expect { "Up" } else { "Down" },
                "{node} {iface} {ports:?}"
            );
        }
        let expected_dev = |i: &str| {
            i.replace("enp1s0", "rocep1s0")
                .replace("enP2p1s0", "roceP2p1s0")
        };
        for iface in QSFP {
            let dev = expected_dev(iface);
            assert_eq!(
                ib[iface].0,
                dev[..dev.len() - 3],
                "{iface} maps to {}",
                ib[iface].0
            );
        }
    }
}

/// ssh from the laptop (root namespace) with the lab's ssh_config plus `opts`.
fn ssh_opts(lab: &Lab, node: &str, opts: &[&str], command: &str) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .args(["-o", "BatchMode=yes"])
        .args(opts)
        .arg(lab.mgmt_ip(node))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh")
}

fn lab_sh() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

const STATIC_1: &str = "network:
  version: 2
  ethernets:
    enp1s0f1np1:
      addresses: [192.168.100.10/24]
    enP2p1s0f1np1:
      addresses: [192.168.101.10/24]
    enp1s0f0np0:
      addresses: [192.168.102.10/24]
    enP2p1s0f0np0:
      addresses: [192.168.103.10/24]";

const STATIC_2: &str = "network:
  version: 2
  ethernets:
    enp1s0f1np1:
      addresses: [192.168.100.11/24]
    enP2p1s0f1np1:
      addresses: [192.168.101.11/24]
    enp1s0f0np0:
      addresses: [192.168.102.11/24]
    enP2p1s0f0np0:
      addresses: [192.168.103.11/24]";

// ------------------------------------------------------------------------------ identity

#[test]
fn nodes_have_their_own_hostname_and_namespaces() {
    let lab = lab();
    assert_eq!(lab.sh("spark-1", "hostname").trim(), "spark-1");
    assert_eq!(lab.sh("spark-2", "hostname").trim(), "spark-2");
    assert_eq!(lab.sh("spark-1", "cat /etc/hostname").trim(), "spark-1");
    // own PID namespace: few processes, none of the host's
    let own = lab.sh("spark-1", "readlink /proc/self/ns/pid");
    let host = std::fs::read_link("/proc/self/ns/pid")
        .expect("ns")
        .display()
        .to_string();
    assert_ne!(own.trim(), host);
    let n: usize = lab
        .sh("spark-1", "ps -e --no-headers | wc -l")
        .trim()
        .parse()
        .expect("count");
    assert!(n < 10, "{n} processes in the node");
    // the node sees its own interfaces only
    let links = lab.sh("spark-2", "ls /sys/class/net | sort");
    let links: Vec<&str> = links.lines().collect();
    assert_eq!(
        links,
        [
            "enP2p1s0f0np0",
            "enP2p1s0f1np1",
            "enP7s7",
            "enp1s0f0np0",
            "enp1s0f1np1",
            "lo"
        ]
    );
    assert_eq!(lab.addresses("spark-1", "enP7s7"), ["198.18.0.11/24"]);
    assert_eq!(lab.addresses("spark-2", "enP7s7"), ["198.18.0.12/24"]);
    // the same nvidia account on both nodes, home with only the pristine content
    let id1 = lab.sh("spark-1", "id nvidia");
    assert_eq!(id1, lab.sh("spark-2", "id nvidia"));
    assert_eq!(
        lab.sh("spark-1", "cd /home/nvidia && find . | sort"),
        ".\n./.bash_logout\n./.bashrc\n./.profile\n./.ssh\n./.ssh/authorized_keys\n"
    );
    assert_eq!(
        lab.sh(
            "spark-1",
            "stat -c '%a %U' /home/nvidia/.ssh /home/nvidia/.ssh/authorized_keys"
        ),
        "700 nvidia\n600 nvidia\n"
    );
    assert_eq!(
        lab.sh("spark-1", "cat /home/nvidia/.ssh/authorized_keys")
            .trim(),
        std::fs::read_to_string(lab.dir().join("laptop_key.pub"))
            .expect("laptop key")
            .trim()
    );
    assert!(lab.exec("spark-1", "test -e /etc/sparklink").status.code() == Some(1));
    // pristine netplan: only the DGX OS NetworkManager file, mode 600
    assert_eq!(
        lab.sh("spark-1", "stat -c '%n %a' /etc/netplan/*"),
        "/etc/netplan/01-network-manager-all.yaml 600\n"
    );
    assert_eq!(
        lab.sh("spark-1", "grep -c 127.0.1.1.*spark-1 /etc/hosts")
            .trim(),
        "1"
    );
}

#[test]
fn exec_passes_exit_code_stdin_and_user() {
    let lab = lab();
    assert_eq!(lab.exec("spark-1", "exit 7").status.code(), Some(7));
    assert_eq!(
        lab.exec_as("spark-2", "nvidia", "id -un; pwd; echo $HOME")
            .stdout,
        b"nvidia\n/home/nvidia\n/home/nvidia\n"
    );
    let mut child = Command::new("bash")
        .arg(lab_sh())
        .args(["exec", "spark-1", "--", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn lab.sh exec");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello spark\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"HELLO SPARK\n");
}

// ------------------------------------------------------------------------------ cables

#[test]
fn cable_positions_drive_carrier_and_ibdev2netdev() {
    let lab = lab();
    // pristine = one cable in port 1 of both nodes
    assert_cabled(&lab, &[(1, 1)]);
    for ports in [
        &[(0u8, 0u8)][..],
        &[(0, 1)],
        &[],
        &[(1, 0)],
        &[(1, 1), (0, 0)],
        &[(1, 1)],
    ] {
        lab.cable(ports);
        assert_cabled(&lab, ports);
    }
}

#[test]
fn cable_joins_same_rail_twins_of_the_cabled_ports() {
    let lab = lab();
    lab.cable(&[(0, 1)]);
    write_netplan(&lab, "spark-1", "40-t.yaml", STATIC_1);
    write_netplan(&lab, "spark-2", "40-t.yaml", STATIC_2);
    netplan_apply(&lab, "spark-1");
    netplan_apply(&lab, "spark-2");
    // spark-1 port 0 <-> spark-2 port 1: rail enp1s0 with enp1s0, enP2p1s0 with enP2p1s0
    lab.sh("spark-1", "ip addr add 192.168.100.20/24 dev enp1s0f0np0");
    lab.sh("spark-1", "ip addr add 192.168.101.20/24 dev enP2p1s0f0np0");
    lab.sh("spark-1", "ping -c1 -W2 -I enp1s0f0np0 192.168.100.11");
    lab.sh("spark-1", "ping -c1 -W2 -I enP2p1s0f0np0 192.168.101.11");
    // the peers answered on their same-rail twin (spark-2's MACs are 02:5b:00:02:<rail>:<port>)
    assert!(lab
        .sh("spark-1", "ip neigh show dev enp1s0f0np0 192.168.100.11")
        .contains("02:5b:00:02:01:01"));
    assert!(lab
        .sh("spark-1", "ip neigh show dev enP2p1s0f0np0 192.168.101.11")
        .contains("02:5b:00:02:02:01"));
}

// ------------------------------------------------------------------------------ ssh / sudo

#[test]
fn laptop_ssh_with_pinned_host_keys() {
    let lab = lab();
    for node in ["spark-1", "spark-2"] {
        let out = lab.ssh(node, "hostname; whoami");
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("{node}\nnvidia\n"));
    }
    // the aliases in ssh_config work too
    let out = Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .args(["-o", "BatchMode=yes", "spark-2", "hostname"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh");
    assert_eq!(stdout(&out), "spark-2\n");
    // strict host key checking is real: no known key -> refused ...
    let out = ssh_opts(
        &lab,
        "spark-1",
        &["-o", "UserKnownHostsFile=/dev/null"],
        "true",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Host key verification failed"),
        "{}",
        stderr(&out)
    );
    // ... and spark-2's key does not pass for spark-1's address
    let swapped = lab.dir().join("known_hosts.swapped");
    let kh = std::fs::read_to_string(lab.dir().join("known_hosts")).expect("known_hosts");
    let swapped_text: String = kh
        .lines()
        .map(|l| {
            l.replacen("198.18.0.11 ", "X ", 1)
                .replacen("198.18.0.12 ", "198.18.0.11 ", 1)
                .replacen("X ", "198.18.0.12 ", 1)
                + "\n"
        })
        .collect();
    std::fs::write(&swapped, swapped_text).expect("write");
    let opt = format!("UserKnownHostsFile={}", swapped.display());
    let out = ssh_opts(&lab, "spark-1", &["-o", &opt], "true");
    std::fs::remove_file(&swapped).ok();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        stderr(&out)
    );
    // password authentication is off and only nvidia may log in
    let out = ssh_opts(&lab, "spark-1", &["-l", "root"], "true");
    assert!(!out.status.success());
    // PATH of an ssh session is Ubuntu's (pam_env + /etc/environment), with /usr/sbin
    let out = lab.ssh("spark-1", "echo $PATH; command -v netplan ibdev2netdev");
    assert_eq!(
        stdout(&out),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin\n\
         /usr/sbin/netplan\n/usr/local/bin/ibdev2netdev\n"
    );
}

#[test]
fn sshd_stop_and_mgmt_cut_break_ssh_and_restore_fixes_it() {
    let lab = lab();
    lab.sshd("spark-1", false);
    let out = ssh_opts(&lab, "spark-1", &["-o", "ConnectTimeout=2"], "true");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );
    assert!(
        lab.ssh("spark-2", "true").status.success(),
        "spark-2 is unaffected"
    );
    lab.sshd("spark-1", true);
    assert!(lab.ssh("spark-1", "true").status.success());

    lab.mgmt("spark-2", false);
    let out = ssh_opts(&lab, "spark-2", &["-o", "ConnectTimeout=2"], "true");
    assert!(
        !out.status.success(),
        "ssh over a cut management link succeeded"
    );
    // node config untouched: the address is still there, the link has no carrier
    assert_eq!(lab.addresses("spark-2", "enP7s7"), ["198.18.0.12/24"]);
    assert_eq!(
        lab.sh("spark-2", "cat /sys/class/net/enP7s7/carrier")
            .trim(),
        "0"
    );
    lab.mgmt("spark-2", true);
    let out = lab.ssh("spark-2", "hostname");
    assert_eq!(stdout(&out), "spark-2\n", "{}", stderr(&out));
}

#[test]
fn sudo_needs_the_password_until_switched_to_nopasswd() {
    let lab = lab();
    let pw = lab.password();
    let out = lab.ssh("spark-1", "sudo -n true");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a password is required"),
        "{}",
        stderr(&out)
    );
    let out = lab.ssh("spark-1", "echo wrong-password | sudo -S -p '' true");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("incorrect password"),
        "{}",
        stderr(&out)
    );
    let out = lab.ssh("spark-1", &format!("echo '{pw}' | sudo -S -p '' id -u"));
    assert_eq!(stdout(&out), "0\n", "{}", stderr(&out));
    // sudo's secure_path finds the lab's netplan and ibdev2netdev
    let out = lab.ssh("spark-2", &format!("echo '{pw}' | sudo -S -p '' sh -c 'for c in netplan ibdev2netdev; do command -v $c; done'"));
    assert_eq!(
        stdout(&out),
        "/usr/sbin/netplan\n/usr/local/bin/ibdev2netdev\n",
        "{}",
        stderr(&out)
    );

    lab.sudo_password(false);
    for node in ["spark-1", "spark-2"] {
        let out = lab.ssh(node, "sudo -n id -u");
        assert_eq!(stdout(&out), "0\n", "{node}: {}", stderr(&out));
    }
    lab.sudo_password(true);
    assert!(!lab.ssh("spark-2", "sudo -n true").status.success());
}

#[test]
fn sudo_requiretty_is_switchable() {
    let lab = lab();
    let pw = lab.password();
    lab.sudo_tty(true);
    let out = lab.ssh("spark-1", &format!("echo '{pw}' | sudo -S -p '' true"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("you must have a tty"),
        "{}",
        stderr(&out)
    );
    lab.sudo_tty(false);
    let out = lab.ssh("spark-1", &format!("echo '{pw}' | sudo -S -p '' true"));
    assert!(out.status.success(), "{}", stderr(&out));
}

// ------------------------------------------------------------------------------ netplan

#[test]
fn static_addresses_follow_the_carrier() {
    let lab = lab();
    write_netplan(&lab, "spark-1", "40-cx7.yaml", STATIC_1);
    netplan_apply(&lab, "spark-1");
    // apply returns once the backend has configured the interfaces
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );
    assert_eq!(
        lab.addresses("spark-1", "enP2p1s0f1np1"),
        ["192.168.101.10/24"]
    );
    assert!(
        lab.addresses("spark-1", "enp1s0f0np0").is_empty(),
        "no carrier, no address"
    );
    assert!(lab.addresses("spark-1", "enP2p1s0f0np0").is_empty());
    assert!(
        lab.addresses("spark-2", "enp1s0f1np1").is_empty(),
        "the peer is not configured"
    );

    lab.cable(&[(0, 0)]);
    wait_for("addresses on port 0", Duration::from_secs(3), || {
        (lab.addresses("spark-1", "enp1s0f0np0") == ["192.168.102.10/24"]
            && lab.addresses("spark-1", "enP2p1s0f0np0") == ["192.168.103.10/24"]
            && lab.addresses("spark-1", "enp1s0f1np1").is_empty()
            && lab.addresses("spark-1", "enP2p1s0f1np1").is_empty())
        .then_some(())
    });
    lab.cable(&[]);
    wait_for("no address without cable", Duration::from_secs(3), || {
        QSFP.iter()
            .all(|i| lab.addresses("spark-1", i).is_empty())
            .then_some(())
    });
    lab.cable(&[(1, 1)]);
    wait_for("port 1 addresses back", Duration::from_secs(3), || {
        (lab.addresses("spark-1", "enp1s0f1np1") == ["192.168.100.10/24"]).then_some(())
    });

    // rollback as in the playbook: remove the file, apply
    lab.sh("spark-1", "rm /etc/netplan/40-cx7.yaml");
    netplan_apply(&lab, "spark-1");
    for i in QSFP {
        assert!(
            lab.addresses("spark-1", i).is_empty(),
            "{i} still has {:?}",
            lab.addresses("spark-1", i)
        );
    }
}

#[test]
fn both_renderers_are_rendered_by_real_netplan_and_applied() {
    let lab = lab();
    // pristine: 01-network-manager-all.yaml makes netplan render NetworkManager keyfiles
    write_netplan(&lab, "spark-1", "40-cx7.yaml", STATIC_1);
    netplan_apply(&lab, "spark-1");
    let nm = lab.sh(
        "spark-1",
        "cat /run/NetworkManager/system-connections/netplan-enp1s0f1np1.nmconnection",
    );
    assert!(
        nm.contains("interface-name=enp1s0f1np1") && nm.contains("address1=192.168.100.10/24"),
        "{nm}"
    );
    assert_eq!(
        lab.exec("spark-1", "ls /run/systemd/network/*.network")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );

    // renderer: networkd -> systemd-networkd .network files
    write_netplan(
        &lab,
        "spark-2",
        "40-cx7.yaml",
        &format!("{}\n  renderer: networkd", STATIC_2),
    );
    netplan_apply(&lab, "spark-2");
    let nd = lab.sh(
        "spark-2",
        "cat /run/systemd/network/10-netplan-enp1s0f1np1.network",
    );
    assert!(
        nd.contains("Name=enp1s0f1np1") && nd.contains("Address=192.168.100.11/24"),
        "{nd}"
    );
    assert_eq!(
        lab.exec("spark-2", "ls /run/NetworkManager/system-connections/*")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        lab.addresses("spark-2", "enp1s0f1np1"),
        ["192.168.100.11/24"]
    );

    // the two nodes talk over the simulated cable, on both rails
    lab.sh("spark-1", "ping -c1 -W2 -I enp1s0f1np1 192.168.100.11");
    lab.sh("spark-1", "ping -c1 -W2 -I enP2p1s0f1np1 192.168.101.11");
}

#[test]
fn link_local_addresses_are_claimed_after_the_probe_delay() {
    let lab = lab();
    let ll = "network:
  version: 2
  ethernets:
    enp1s0f0np0:
      link-local: [ ipv4 ]
    enp1s0f1np1:
      link-local: [ ipv4 ]";
    write_netplan(&lab, "spark-1", "40-cx7.yaml", ll); // NetworkManager: method=link-local
    write_netplan(
        &lab,
        "spark-2",
        "40-cx7.yaml",
        &format!("{ll}\n  renderer: networkd"),
    ); // LinkLocalAddressing=ipv4
    netplan_apply(&lab, "spark-1");
    netplan_apply(&lab, "spark-2");
    let mut got = Vec::new();
    for node in ["spark-1", "spark-2"] {
        let a = wait_for("a link-local address", Duration::from_secs(5), || {
            let v = lab.addresses(node, "enp1s0f1np1");
            (v.len() == 1).then(|| v[0].clone())
        });
        let (ip, prefix) = a.split_once('/').expect("cidr");
        assert_eq!(prefix, "16");
        let o: Vec<u8> = ip.split('.').map(|x| x.parse().expect("octet")).collect();
        assert_eq!((o[0], o[1]), (169, 254), "{a}");
        assert!((1..=254).contains(&o[2]), "{a}");
        assert!(lab
            .sh(node, "ip -4 -o addr show dev enp1s0f1np1")
            .contains("scope link"));
        assert!(
            lab.addresses(node, "enp1s0f0np0").is_empty(),
            "no carrier on port 0"
        );
        got.push(ip.to_string());
    }
    assert_ne!(got[0], got[1]);
    lab.sh(
        "spark-1",
        &format!("ping -c1 -W2 -I enp1s0f1np1 {}", got[1]),
    );
    // deterministic: same address after the cable is moved away and back
    lab.cable(&[]);
    wait_for("link-local gone", Duration::from_secs(3), || {
        lab.addresses("spark-1", "enp1s0f1np1")
            .is_empty()
            .then_some(())
    });
    lab.cable(&[(1, 1)]);
    let again = wait_for("link-local back", Duration::from_secs(5), || {
        let v = lab.addresses("spark-1", "enp1s0f1np1");
        (v.len() == 1).then(|| v[0].clone())
    });
    assert_eq!(again, format!("{}/16", got[0]));
}

#[test]
fn bad_yaml_fails_apply_with_netplans_own_message() {
    let lab = lab();
    write_netplan(&lab, "spark-1", "40-bad.yaml", "network:\n  version: 2\n  ethernets:\n    enp1s0f1np1:\n      adresses: [192.168.100.10/24]");
    let out = lab.exec("spark-1", "netplan apply");
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG, as real apply");
    assert!(
        stderr(&out).contains(
            "/etc/netplan/40-bad.yaml:5:7: Error in network definition: unknown key 'adresses'"
        ),
        "{}",
        stderr(&out)
    );
    write_netplan(&lab, "spark-1", "40-bad.yaml", "network:\n  version: 2\n  ethernets:\n    enp1s0f1np1:\n      addresses: [192.168.100.10/24");
    let out = lab.exec("spark-1", "netplan generate");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/etc/netplan/40-bad.yaml:6:1: Invalid YAML"),
        "{}",
        stderr(&out)
    );
    assert!(lab.addresses("spark-1", "enp1s0f1np1").is_empty());
}

/// Starts `netplan try` in the background on spark-1 with stdin held open (as on a terminal
/// that nobody types into), waits until it is ready; returns its pid.
fn start_try(lab: &Lab, args: &str) -> String {
    let pid = lab.sh(
        "spark-1",
        &format!(
            "sleep 300 </dev/null 2>/dev/null | netplan try {args} >/tmp/try.log 2>&1 &\necho $!"
        ),
    );
    wait_for("netplan-try.ready", Duration::from_secs(10), || {
        lab.exec("spark-1", "test -e /run/netplan/netplan-try.ready")
            .status
            .success()
            .then_some(())
    });
    pid.trim().to_string()
}

fn wait_exit(lab: &Lab, pid: &str, timeout: Duration) {
    wait_for("netplan try to exit", timeout, || {
        (!lab
            .exec("spark-1", &format!("kill -0 {pid}"))
            .status
            .success())
        .then_some(())
    });
}

#[test]
fn netplan_try_reverts_on_timeout_and_sigint_keeps_on_sigusr1() {
    let lab = lab();
    let yaml = "network:\n  version: 2\n  ethernets:\n    enp1s0f1np1:\n      addresses: [192.168.100.10/24]";
    lab.sh(
        "spark-1",
        &format!("cat >/root/40-cx7.yaml <<'EOF'\n{yaml}\nEOF\nchmod 600 /root/40-cx7.yaml"),
    );

    // timeout -> revert
    let pid = start_try(&lab, "--config-file /root/40-cx7.yaml --timeout 2");
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );
    wait_exit(&lab, &pid, Duration::from_secs(10));
    assert!(lab.addresses("spark-1", "enp1s0f1np1").is_empty());
    assert_eq!(
        lab.sh("spark-1", "ls /etc/netplan"),
        "01-network-manager-all.yaml\n"
    );
    assert!(lab.sh("spark-1", "cat /tmp/try.log").contains("Reverting."));

    // SIGINT -> revert
    let pid = start_try(&lab, "--config-file /root/40-cx7.yaml --timeout 60");
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );
    lab.sh("spark-1", &format!("kill -INT {pid}"));
    wait_exit(&lab, &pid, Duration::from_secs(10));
    assert!(lab.addresses("spark-1", "enp1s0f1np1").is_empty());
    assert_eq!(
        lab.sh("spark-1", "ls /etc/netplan"),
        "01-network-manager-all.yaml\n"
    );

    // SIGUSR1 -> accepted, kept (real 0.106 keeps the copy as /etc/netplan/<name>.<timestamp>.yaml,
    // <name> being the file name with any trailing '.', 'y', 'a', 'm', 'l' stripped)
    let pid = start_try(&lab, "--config-file /root/40-cx7.yaml --timeout 60");
    lab.sh("spark-1", &format!("kill -USR1 {pid}"));
    wait_exit(&lab, &pid, Duration::from_secs(10));
    assert!(lab
        .sh("spark-1", "cat /tmp/try.log")
        .contains("Configuration accepted."));
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );
    let files = lab.sh("spark-1", "ls /etc/netplan");
    assert!(
        files.starts_with("01-network-manager-all.yaml\n40-cx7.") && files.lines().count() == 2,
        "{files}"
    );
    assert!(!lab
        .exec("spark-1", "test -e /run/netplan/netplan-try.ready")
        .status
        .success());
}

#[test]
fn netplan_try_dies_without_revert_on_sigterm_and_reverts_at_once_without_stdin() {
    let lab = lab();
    let yaml = "network:\n  version: 2\n  ethernets:\n    enp1s0f1np1:\n      addresses: [192.168.100.10/24]";
    lab.sh(
        "spark-1",
        &format!("cat >/root/40-cx7.yaml <<'EOF'\n{yaml}\nEOF\nchmod 600 /root/40-cx7.yaml"),
    );
    // SIGTERM (like SIGHUP when an SSH session drops) kills it without reverting
    let pid = start_try(&lab, "--config-file /root/40-cx7.yaml --timeout 60");
    lab.sh("spark-1", &format!("kill -TERM {pid}"));
    wait_exit(&lab, &pid, Duration::from_secs(10));
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );
    assert!(lab
        .sh("spark-1", "ls /etc/netplan")
        .lines()
        .any(|f| f.starts_with("40-cx7.")));

    // real netplan 0.106 quirk: with stdin at EOF (e.g. </dev/null, or an SSH command whose
    // stdin is closed) `netplan try` does not wait for the timeout, it reverts at once
    lab.sh("spark-1", "rm -f /etc/netplan/40-cx7.*; netplan apply");
    let start = Instant::now();
    let out = lab.exec(
        "spark-1",
        "netplan try --config-file /root/40-cx7.yaml --timeout 30 </dev/null",
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(stdout(&out).contains("Reverting."), "{}", stdout(&out));
    assert!(lab.addresses("spark-1", "enp1s0f1np1").is_empty());
}

#[test]
fn mtu_is_applied_and_jumbo_frames_cross_the_cable() {
    let lab = lab();
    let y = |a: &str| {
        format!("network:\n  version: 2\n  ethernets:\n    enp1s0f1np1:\n      addresses: [{a}]\n      mtu: 9000")
    };
    write_netplan(&lab, "spark-1", "40-cx7.yaml", &y("192.168.100.10/24"));
    write_netplan(&lab, "spark-2", "40-cx7.yaml", &y("192.168.100.11/24"));
    netplan_apply(&lab, "spark-1");
    netplan_apply(&lab, "spark-2");
    assert_eq!(
        lab.sh("spark-1", "cat /sys/class/net/enp1s0f1np1/mtu")
            .trim(),
        "9000"
    );
    lab.sh(
        "spark-1",
        "ping -c1 -W2 -M do -s 8972 -I enp1s0f1np1 192.168.100.11",
    );
    let out = lab.exec(
        "spark-1",
        "ping -c1 -W2 -M do -s 8973 -I enp1s0f1np1 192.168.100.11",
    );
    assert!(!out.status.success(), "a frame above the MTU went through");
    // removing the config does not restore the MTU (the simulated backend never does)
    lab.sh("spark-1", "rm /etc/netplan/40-cx7.yaml && netplan apply");
    assert_eq!(
        lab.sh("spark-1", "cat /sys/class/net/enp1s0f1np1/mtu")
            .trim(),
        "9000"
    );
    assert!(lab.addresses("spark-1", "enp1s0f1np1").is_empty());
}

#[test]
fn hand_made_addresses_are_left_alone_except_where_nm_apply_flushes() {
    let lab = lab();
    lab.sh("spark-1", "ip addr add 192.168.77.1/24 dev enP2p1s0f1np1 && ip addr add 192.168.78.1/24 dev enp1s0f1np1");
    write_netplan(&lab, "spark-1", "40-cx7.yaml", "network:\n  version: 2\n  ethernets:\n    enp1s0f1np1:\n      addresses: [192.168.100.10/24]");
    netplan_apply(&lab, "spark-1");
    // not configured by netplan: untouched
    assert_eq!(
        lab.addresses("spark-1", "enP2p1s0f1np1"),
        ["192.168.77.1/24"]
    );
    // configured through NetworkManager: real `netplan apply` flushes it first
    assert_eq!(
        lab.addresses("spark-1", "enp1s0f1np1"),
        ["192.168.100.10/24"]
    );
}

#[test]
fn netplan_dir_faults() {
    let lab = lab();
    let before = lab.snapshot("spark-1");
    lab.netplan_dir("spark-1", "readonly");
    let out = lab.exec("spark-1", "touch /etc/netplan/40-x.yaml");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(lab
        .sh("spark-1", "cat /etc/netplan/01-network-manager-all.yaml")
        .contains("renderer: NetworkManager"));
    lab.netplan_dir("spark-1", "full");
    let out = lab.exec(
        "spark-1",
        "printf 'network: {version: 2}\\n' >/etc/netplan/40-x.yaml",
    );
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    let out = lab.exec("spark-1", "mkdir /etc/netplan/d");
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert!(lab
        .sh("spark-1", "netplan get")
        .contains("renderer: NetworkManager"));
    assert_eq!(
        lab.snapshot("spark-1"),
        before,
        "same content, modes and owners"
    );
    lab.netplan_dir("spark-1", "normal");
    lab.sh(
        "spark-1",
        "touch /etc/netplan/40-x.yaml && rm /etc/netplan/40-x.yaml",
    );
}

// ------------------------------------------------------------------------------ link ssh

#[test]
fn node_to_node_ssh_over_the_qsfp_link() {
    let lab = lab();
    write_netplan(&lab, "spark-1", "40-cx7.yaml", STATIC_1);
    write_netplan(&lab, "spark-2", "40-cx7.yaml", STATIC_2);
    netplan_apply(&lab, "spark-1");
    netplan_apply(&lab, "spark-2");
    // a key of spark-1's own, authorized on spark-2; spark-2's host key pinned for its link
    // address, taken over the trusted channel (here: the lab)
    let out = lab.exec_as(
        "spark-1",
        "nvidia",
        "ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519 && cat ~/.ssh/id_ed25519.pub",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pubkey = stdout(&out);
    lab.sh(
        "spark-2",
        &format!(
            "echo '{}' >>/home/nvidia/.ssh/authorized_keys",
            pubkey.trim()
        ),
    );
    let host_key = lab.sh(
        "spark-2",
        "cut -d' ' -f1-2 /etc/ssh/ssh_host_ed25519_key.pub",
    );
    let out = lab.exec_as(
        "spark-1",
        "nvidia",
        &format!(
            "echo '192.168.100.11 {}' >~/.ssh/known_hosts",
            host_key.trim()
        ),
    );
    assert!(out.status.success());
    let out = lab.exec_as(
        "spark-1",
        "nvidia",
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=3 192.168.100.11 hostname",
    );
    assert_eq!(stdout(&out), "spark-2\n", "{}", stderr(&out));
    // without the cable the link address is gone
    lab.cable(&[]);
    let out = lab.exec_as(
        "spark-1",
        "nvidia",
        "ssh -o BatchMode=yes -o ConnectTimeout=2 192.168.100.11 hostname",
    );
    assert!(!out.status.success());
}

// ------------------------------------------------------------------------------ snapshot / reset

#[test]
fn snapshot_detects_changes_and_reset_restores_pristine() {
    let lab = lab();
    let pristine = lab.snapshot("spark-1");
    assert!(
        pristine.contains("file /etc/netplan/01-network-manager-all.yaml 0600 root:root "),
        "{pristine}"
    );
    assert!(
        pristine.contains("dir /home/nvidia/.ssh 0700 nvidia:nvidia"),
        "{pristine}"
    );
    assert!(pristine.contains("absent /etc/sparklink"), "{pristine}");
    assert!(
        pristine.contains("if enp1s0f1np1 UP mtu 1500\n"),
        "{pristine}"
    );
    assert!(
        pristine.contains("if enp1s0f0np0 DOWN mtu 1500\n"),
        "{pristine}"
    );
    assert!(
        !pristine.contains("proc "),
        "no process besides the lab's: {pristine}"
    );
    assert_eq!(
        lab.snapshot("spark-1"),
        pristine,
        "snapshots are deterministic"
    );

    // each kind of change shows
    let changes = [
        "touch /etc/netplan/01-network-manager-all.yaml; chmod 644 /etc/netplan/01-network-manager-all.yaml",
        "mkdir /etc/sparklink",
        "ssh-keygen -q -t ed25519 -N '' -f /home/nvidia/.ssh/id_ed25519",
        "chmod 755 /home/nvidia/.ssh",
        "echo '192.168.100.11 spark-2' >>/etc/hosts",
        "echo 'export X=1' >>/home/nvidia/.bashrc",
        "ip addr add 192.168.100.10/24 dev enp1s0f0np0",
        "ip link set enp1s0f1np1 mtu 9000",
        "ip link set enP2p1s0f1np1 down",
        "setsid sleep 1000 </dev/null >/dev/null 2>&1 &",
        "echo 'nvidia ALL=(ALL) NOPASSWD: /usr/sbin/netplan' >/etc/sudoers.d/sparklink",
    ];
    let mut prev = pristine.clone();
    for change in changes {
        lab.sh("spark-1", change);
        let now = lab.snapshot("spark-1");
        assert_ne!(now, prev, "snapshot missed: {change}");
        prev = now;
    }
    // more mess: /tmp, a watchdog-like process, a lock file, another user's key
    lab.sh("spark-1", "touch /tmp/sparklink.lock /run/sparklink.lock; (sleep 1000 </dev/null >/dev/null 2>&1 &) ; mkdir -p /etc/sparklink && echo x >/etc/sparklink/state");
    drop(lab);

    let lab = crate::lab::lab();
    assert_eq!(lab.snapshot("spark-1"), pristine);
    assert_eq!(lab.sh("spark-1", "ls -A /tmp"), "");
    assert_eq!(
        lab.exec("spark-1", "test -e /run/sparklink.lock")
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        lab.exec("spark-1", "pgrep -x sleep").status.code(),
        Some(1),
        "stray processes survived"
    );
    assert_cabled(&lab, &[(1, 1)]);
    assert!(lab.ssh("spark-1", "true").status.success());
}

#[test]
fn nothing_written_in_a_node_reaches_the_host() {
    let lab = lab();
    let host_etc_sparklink = std::path::Path::new("/etc/sparklink").exists();
    let host_passwd = std::fs::read("/etc/passwd").expect("passwd");
    let host_netplan: Vec<_> = std::fs::read_dir("/etc/netplan")
        .expect("netplan")
        .map(|e| e.expect("entry").file_name())
        .collect();
    lab.sh("spark-1", "mkdir -p /etc/sparklink && echo x >/etc/sparklink/x && echo y >/etc/netplan/99-x.yaml && touch /usr/local/bin/slab-probe /root/slab-probe");
    assert_eq!(
        std::path::Path::new("/etc/sparklink").exists(),
        host_etc_sparklink
    );
    assert!(!std::path::Path::new("/usr/local/bin/slab-probe").exists());
    assert!(!std::path::Path::new("/root/slab-probe").exists());
    assert_eq!(std::fs::read("/etc/passwd").expect("passwd"), host_passwd);
    let now: Vec<_> = std::fs::read_dir("/etc/netplan")
        .expect("netplan")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(now, host_netplan);
    // and the other node does not see it either
    assert_eq!(
        lab.exec("spark-2", "test -e /etc/sparklink").status.code(),
        Some(1)
    );
}
