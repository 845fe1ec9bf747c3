//! The cluster environment (`/etc/sparklink/cluster.env`, the MPI hostfile,
//! the `<host>-link` names) against the lab: written by `up` and by
//! `sparklink env`, used the way mpirun uses it, removed by `down`, and
//! its drift caught by `verify` when the cable moves.

use crate::lab::{lab, Lab};
use crate::support::{sparklink, Run};

fn run(lab: &Lab, command: &str, extra: &[&str]) -> Run {
    let inventory = lab.inventory().display().to_string();
    let mut args = vec![command, "-i", inventory.as_str()];
    args.extend_from_slice(extra);
    sparklink(&args, Some(lab.password()))
}

/// A variable as a login shell of nvidia on `node` sees it.
fn login_env(lab: &Lab, node: &str, name: &str) -> String {
    let out = lab.exec_as(node, "nvidia", &format!("bash -lc 'echo ${name}'"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn static_on_port_1_writes_the_environment_and_spark_2_link_answers_over_the_link() {
    let lab = lab();
    run(&lab, "up", &[]).assert_code(0);
    insta::assert_snapshot!(lab.sh("spark-2", "cat /etc/sparklink/cluster.env"), @r"
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
    for node in ["spark-1", "spark-2"] {
        assert_eq!(
            lab.sh(node, "cat /etc/sparklink/hostfile"),
            "# One QSFP link address per node, written by sparklink.\n192.168.100.10\n192.168.100.11\n"
        );
        assert_eq!(
            lab.sh(node, "stat -c '%a %U' /etc/sparklink/cluster.env"),
            "644 root\n"
        );
    }
    // The profile hook: a login shell has the variables.
    assert_eq!(login_env(&lab, "spark-1", "VLLM_HOST_IP"), "192.168.100.10");
    assert_eq!(
        login_env(&lab, "spark-1", "NCCL_IB_HCA"),
        "rocep1s0f1,roceP2p1s0f1"
    );

    // mpirun-style: the name resolves to the link address, and ssh by name
    // answers over the link with the pinned host key (BatchMode, no TOFU).
    assert_eq!(
        lab.sh("spark-1", "getent hosts spark-2-link"),
        "192.168.100.11  spark-2-link\n"
    );
    let out = lab.exec_as(
        "spark-1",
        "nvidia",
        "ssh -o BatchMode=yes -o ConnectTimeout=5 spark-2-link 'hostname; echo $SSH_CONNECTION'",
    );
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{answer}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = answer.lines();
    assert_eq!(lines.next(), Some("spark-2"));
    let connection: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    assert_eq!(
        (connection[0], connection[2]),
        ("192.168.100.10", "192.168.100.11"),
        "the ssh went over the QSFP link: {answer}"
    );

    // `sparklink env` alone rewrites nothing; --shell prints export lines.
    let again = run(&lab, "env", &["--json"]);
    again.assert_code(0);
    assert_eq!(again.recap("spark-1", "changed"), 0);
    assert_eq!(again.recap("spark-2", "changed"), 0);
    let shell = run(&lab, "env", &["--shell"]);
    shell.assert_code(0);
    assert!(
        shell.stdout.contains(
            "# cluster environment: spark-1\nexport NCCL_SOCKET_IFNAME=enp1s0f1np1,enP2p1s0f1np1\n"
        ),
        "{}",
        shell.stdout
    );
    assert!(
        shell
            .stdout
            .contains("export VLLM_HOST_IP=192.168.100.11\n"),
        "{}",
        shell.stdout
    );
    assert!(
        shell
            .stdout
            .lines()
            .all(|l| l.starts_with("# ") || l.starts_with("export ")),
        "only comments and exports on stdout:\n{}",
        shell.stdout
    );
}

#[test]
fn link_local_on_port_0_names_the_addressed_interface_and_the_read_back_address() {
    let lab = lab();
    lab.cable(&[(0, 0)]);
    run(&lab, "up", &["-e", "qsfp_addressing=link-local"]).assert_code(0);
    let mine = lab.addresses("spark-1", "enp1s0f0np0");
    let theirs = lab.addresses("spark-2", "enp1s0f0np0");
    assert_eq!((mine.len(), theirs.len()), (1, 1), "{mine:?} {theirs:?}");
    let (mine, theirs) = (
        mine[0].trim_end_matches("/16"),
        theirs[0].trim_end_matches("/16"),
    );
    let file = lab.sh("spark-2", "cat /etc/sparklink/cluster.env");
    let expected = format!(
        "NCCL_SOCKET_IFNAME=enp1s0f0np0\n\
         UCX_NET_DEVICES=enp1s0f0np0\n\
         OMPI_MCA_btl_tcp_if_include=enp1s0f0np0\n\
         GLOO_SOCKET_IFNAME=enp1s0f0np0\n\
         TP_SOCKET_IFNAME=enp1s0f0np0\n\
         NCCL_IB_HCA=rocep1s0f0,roceP2p1s0f0\n\
         MASTER_ADDR={mine}\n\
         SPARKLINK_LINK_ADDR={theirs}\n\
         VLLM_HOST_IP={theirs}\n"
    );
    assert!(file.ends_with(&expected), "{file}");
    assert_eq!(
        lab.sh("spark-2", "getent hosts spark-1-link")
            .split_whitespace()
            .collect::<Vec<_>>(),
        [mine, "spark-1-link"]
    );
}

#[test]
fn down_removes_it_all_and_verify_catches_a_moved_cable() {
    let lab = lab();
    run(&lab, "up", &[]).assert_code(0);
    // Verify passes while the file matches the link.
    run(&lab, "verify", &[]).assert_code(0);

    // The cable moves to port 0 on both nodes: the file names interfaces
    // that lost their carrier.
    lab.cable(&[(0, 0)]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let verify = run(&lab, "verify", &["--json"]);
    verify.assert_code(2);
    let doc = verify.json();
    let checks = doc["plays"][0]["tasks"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|t| t["name"] == "check the link, cheapest first")
        })
        .map(|t| t["results"]["spark-1"]["data"]["checks"].clone())
        .unwrap_or_default();
    let env_check = checks
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "cluster env"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(env_check["mark"], "fail", "{checks:#}");
    insta::assert_snapshot!(env_check["diagnosis"].as_str().unwrap_or_default(), @"/etc/sparklink/cluster.env names enp1s0f1np1, enP2p1s0f1np1, not Up with an address now (Up and addressed: none): run `sparklink up` to address the link (it rewrites cluster.env)");

    // Back on port 1, down removes the files, the names and the hook.
    lab.cable(&[(1, 1)]);
    run(&lab, "down", &[]).assert_code(0);
    for node in ["spark-1", "spark-2"] {
        assert_eq!(
            lab.sh(node, "ls /etc/sparklink 2>&1; grep -c sparklink /etc/hosts ~nvidia/.profile; true"),
            "ls: cannot access '/etc/sparklink': No such file or directory\n/etc/hosts:0\n/home/nvidia/.profile:0\n"
        );
    }
}

#[test]
fn static_on_port_0_and_link_local_on_port_1_name_their_own_interfaces() {
    let lab = lab();
    lab.cable(&[(0, 0)]);
    run(&lab, "up", &[]).assert_code(0);
    let file = lab.sh("spark-1", "cat /etc/sparklink/cluster.env");
    assert!(
        file.contains(
            "NCCL_SOCKET_IFNAME=enp1s0f0np0,enP2p1s0f0np0\n\
             UCX_NET_DEVICES=enp1s0f0np0,enP2p1s0f0np0\n\
             OMPI_MCA_btl_tcp_if_include=enp1s0f0np0,enP2p1s0f0np0\n\
             GLOO_SOCKET_IFNAME=enp1s0f0np0,enP2p1s0f0np0\n\
             TP_SOCKET_IFNAME=enp1s0f0np0\n\
             NCCL_IB_HCA=rocep1s0f0,roceP2p1s0f0\n\
             MASTER_ADDR=192.168.100.10\n\
             SPARKLINK_LINK_ADDR=192.168.100.10\n"
        ),
        "{file}"
    );
    run(&lab, "down", &[]).assert_code(0);

    lab.cable(&[(1, 1)]);
    run(&lab, "up", &["-e", "qsfp_addressing=link-local"]).assert_code(0);
    let mine = lab.addresses("spark-1", "enp1s0f1np1");
    assert_eq!(mine.len(), 1, "{mine:?}");
    let file = lab.sh("spark-1", "cat /etc/sparklink/cluster.env");
    assert!(
        file.contains(&format!(
            "NCCL_SOCKET_IFNAME=enp1s0f1np1\n\
             UCX_NET_DEVICES=enp1s0f1np1\n\
             OMPI_MCA_btl_tcp_if_include=enp1s0f1np1\n\
             GLOO_SOCKET_IFNAME=enp1s0f1np1\n\
             TP_SOCKET_IFNAME=enp1s0f1np1\n\
             NCCL_IB_HCA=rocep1s0f1,roceP2p1s0f1\n\
             MASTER_ADDR={0}\n\
             SPARKLINK_LINK_ADDR={0}\n",
            mine[0].trim_end_matches("/16")
        )),
        "{file}"
    );
}
