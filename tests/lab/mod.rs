//! Harness for the sparklink test lab: two simulated DGX Sparks on this machine.
//!
//! The lab itself is `tests/lab/lab.sh` (see `tests/lab/README.md`): network namespaces
//! `slab-spark-1` / `slab-spark-2` with their own hostname, mount and PID namespaces, real
//! sshd and real netplan (only the backend step of `netplan apply` is simulated), QSFP
//! cables simulated by bridges in the namespace `slab-wire`, and the root namespace playing
//! the laptop, which reaches the nodes at 198.18.0.11 / 198.18.0.12 with
//! `ssh -F <Lab::ssh_config()>`.
//!
//! Every lab test starts with [`lab()`]: it brings the lab up (built once, then only checked),
//! resets it to pristine and holds a lock until the returned [`Lab`] is dropped, so lab tests run one
//! at a time even though the test harness runs tests on several threads. The lock is also
//! held across processes (an `flock` on `<state dir>.lock`, i.e. `/run/sparklink-lab.lock`,
//! kept by a `flock … cat` child process), so two `cargo test` runs, or two checkouts, share
//! the one lab without stepping on each other. A test that panics releases the lock while
//! unwinding; a test process that dies releases it with its last file descriptor.
//!
//! Needs root (namespaces, mounts). If the lab cannot be built, [`lab()`] panics with
//! `lab.sh`'s stderr: lab tests never silently skip.
//!
//! Only `std` is used here, so the harness adds no dependency to the crate.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};

const DEFAULT_DIR: &str = "/run/sparklink-lab";
const DEFAULT_PASSWORD: &str = "spark-lab-pw";

/// Result of the one `lab.sh up` of this process (Err = its stderr).
static UP: OnceLock<Result<(), String>> = OnceLock::new();
/// `true` while a [`Lab`] exists.
static BUSY: Mutex<bool> = Mutex::new(false);
static FREED: Condvar = Condvar::new();

fn state_dir() -> PathBuf {
    let dir = std::env::var("SPARKLINK_LAB_DIR").unwrap_or_else(|_| DEFAULT_DIR.into());
    let trimmed = dir.trim_end_matches('/');
    PathBuf::from(if trimmed.is_empty() { "/" } else { trimmed })
}

/// Takes the cross-process lock: a child `flock -x <state dir>.lock sh -c 'echo; exec cat'`
/// that holds the lock until its stdin is closed (by `Lab::drop`, or by the death of this
/// process). Returns once the lock is held.
fn cross_process_lock() -> Child {
    let mut path = state_dir().into_os_string();
    path.push(".lock");
    let mut child = Command::new("flock")
        .arg("-x")
        .arg(&path)
        .args(["-c", "echo locked; exec cat >/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("sparklink lab: cannot run flock (util-linux): {e}"));
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("sparklink lab: flock {}: {e}", Path::new(&path).display()));
    if line.trim() != "locked" {
        let status = child.wait();
        panic!(
            "sparklink lab: could not lock {} ({status:?})",
            Path::new(&path).display()
        );
    }
    child
}

fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("lab")
}

fn lab_sh() -> PathBuf {
    lab_dir().join("lab.sh")
}

/// Runs `lab.sh ARGS...` with stdin closed; Err carries a one-paragraph report.
fn run_lab(args: &[&str]) -> Result<Output, String> {
    let out = Command::new("bash")
        .arg(lab_sh())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", lab_sh().display()))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`lab.sh {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
        ))
    }
}

/// Runs `lab.sh ARGS...` and panics (with lab.sh's stderr) if it fails.
fn must(args: &[&str]) -> Output {
    match run_lab(args) {
        Ok(out) => out,
        Err(e) => panic!("sparklink lab: {e}"),
    }
}

/// Takes the lab for the calling test: brings it up (`lab.sh up`: built once, then a quick
/// health check that also rebuilds the lab if someone tore it down or edited its sources),
/// resets it to pristine (`lab.sh reset`) and returns a guard; other callers of `lab()`, in
/// this process or another, block until the guard is dropped.
///
/// Pristine means: cable in port 1 on both nodes, both sshd running, management links up,
/// sudo asks for the password, no `requiretty`, `/etc/netplan` holding only
/// `01-network-manager-all.yaml`, QSFP interfaces admin up with MTU 1500 and no address,
/// `/home/nvidia` holding only the skeleton dotfiles and `.ssh/authorized_keys` (the laptop
/// key), no `/etc/sparklink`, empty `/tmp`, no process besides the lab's own.
///
/// Panics with `lab.sh`'s stderr if the lab cannot be built or reset (never skips).
pub fn lab() -> Lab {
    {
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        while *busy {
            busy = FREED.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy = true;
    }
    // From here on, dropping `guard` (also while unwinding) releases the locks.
    let mut guard = Lab { flock: None };
    guard.flock = Some(cross_process_lock());
    // A failed first build is remembered: later tests fail at once with the same message.
    if let Err(e) = UP.get_or_init(|| run_lab(&["up"]).map(|_| ())) {
        panic!("sparklink lab: the lab could not be built: {e}");
    }
    // Idempotent and fast when healthy; repairs a lab that another process took down.
    must(&["up"]);
    must(&["reset"]);
    guard
}

/// Exclusive use of the (pristine, at creation) lab; released on drop.
///
/// Node names are `"spark-1"` and `"spark-2"`.
pub struct Lab {
    /// The `flock … cat` process holding the cross-process lock (see [`lab()`]).
    flock: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.flock.take() {
            drop(child.stdin.take()); // cat sees EOF, flock exits and releases the lock
            let _ = child.wait();
        }
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        *busy = false;
        FREED.notify_one();
    }
}

impl Lab {
    /// The lab's state directory (`$SPARKLINK_LAB_DIR`, default `/run/sparklink-lab`).
    pub fn dir(&self) -> PathBuf {
        state_dir()
    }

    /// Absolute path of `tests/lab/inventory.yml` (group `sparks`: spark-1 198.18.0.11,
    /// spark-2 198.18.0.12, user nvidia, `sparklink_ssh_config` = the lab's ssh_config).
    pub fn inventory(&self) -> PathBuf {
        lab_dir().join("inventory.yml")
    }

    /// `<state>/ssh_config`, for `ssh -F`: `Host 198.18.0.*` (and aliases `spark-1`,
    /// `spark-2`) with User nvidia, the laptop key, the lab's known_hosts and
    /// StrictHostKeyChecking yes.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir().join("ssh_config")
    }

    /// The sudo password of `nvidia` on both nodes (`$SPARKLINK_LAB_PASSWORD`, default
    /// `spark-lab-pw`).
    pub fn password(&self) -> &'static str {
        static PASSWORD: OnceLock<String> = OnceLock::new();
        PASSWORD.get_or_init(|| {
            std::env::var("SPARKLINK_LAB_PASSWORD").unwrap_or_else(|_| DEFAULT_PASSWORD.into())
        })
    }

    /// Management address of a node: `"198.18.0.11"` for spark-1, `"198.18.0.12"` for spark-2.
    pub fn mgmt_ip(&self, node: &str) -> &'static str {
        match node {
            "spark-1" => "198.18.0.11",
            "spark-2" => "198.18.0.12",
            _ => panic!("sparklink lab: unknown node {node:?} (expected spark-1 or spark-2)"),
        }
    }

    /// Runs `sh -c script` as root inside `node` (all its namespaces, clean environment,
    /// PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, stdin closed).
    /// Never panics on a non-zero exit: inspect the returned status.
    pub fn exec(&self, node: &str, script: &str) -> Output {
        self.exec_as(node, "root", script)
    }

    /// Like [`Lab::exec`], as `user` (HOME, USER, LOGNAME set, working directory = HOME).
    pub fn exec_as(&self, node: &str, user: &str, script: &str) -> Output {
        Command::new("bash")
            .arg(lab_sh())
            .args(["exec", node, "--user", user, "--", "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("sparklink lab: cannot run lab.sh exec: {e}"))
    }

    /// Runs `script` as root inside `node`; panics with its stderr unless it exits 0;
    /// returns its stdout.
    pub fn sh(&self, node: &str, script: &str) -> String {
        let out = self.exec(node, script);
        if !out.status.success() {
            panic!(
                "sparklink lab: on {node}: `{script}` failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout),
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `command` on `node` over SSH from the laptop side (root namespace):
    /// `ssh -F <ssh_config> -o BatchMode=yes <mgmt ip> command`, stdin closed.
    pub fn ssh(&self, node: &str, command: &str) -> Output {
        Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .args(["-o", "BatchMode=yes", self.mgmt_ip(node), command])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("sparklink lab: cannot run ssh: {e}"))
    }

    /// Plugs the cables: each `(p1, p2)` joins port `p1` (0 or 1) of spark-1 with port `p2`
    /// of spark-2 (both twins, rail by rail); `&[]` unplugs everything. Ports without a
    /// cable show NO-CARRIER / `(Down)`.
    pub fn cable(&self, ports: &[(u8, u8)]) {
        let mut args = vec!["cable".to_string()];
        if ports.is_empty() {
            args.push("none".into());
        }
        for (a, b) in ports {
            args.push(a.to_string());
            args.push(b.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        must(&args);
    }

    /// Starts or stops the sshd listener of `node` (existing sessions survive a stop).
    pub fn sshd(&self, node: &str, running: bool) {
        must(&["sshd", node, if running { "start" } else { "stop" }]);
    }

    /// Connects or cuts `node`'s management link (the laptop-side end of its cable goes
    /// down; the node's own configuration is untouched).
    pub fn mgmt(&self, node: &str, connected: bool) {
        must(&["mgmt", node, if connected { "restore" } else { "cut" }]);
    }

    /// Whether sudo asks nvidia for the password, on both nodes (`false` = NOPASSWD).
    pub fn sudo_password(&self, required: bool) {
        must(&["sudo-password", if required { "on" } else { "off" }]);
    }

    /// Whether sudo requires a tty for nvidia (`Defaults:nvidia requiretty`), on both nodes.
    pub fn sudo_tty(&self, required: bool) {
        must(&["sudo-tty", if required { "on" } else { "off" }]);
    }

    /// `/etc/netplan` of `node`: `"normal"`, `"readonly"` (read-only bind mount) or `"full"`
    /// (a tmpfs with the current files and no free block or inode: writes fail with ENOSPC).
    pub fn netplan_dir(&self, node: &str, mode: &str) {
        must(&["netplan-dir", node, mode]);
    }

    /// Deterministic fingerprint of everything sparklink may touch on `node`: mode, owner and
    /// sha256 of /etc/netplan, /etc/sparklink, /etc/sudoers.d, ~nvidia/.ssh (recursively),
    /// /etc/hosts, ~nvidia/.profile and .bashrc; state, MTU and addresses of the four QSFP
    /// interfaces; names of the running processes other than the lab's own.
    pub fn snapshot(&self, node: &str) -> String {
        String::from_utf8_lossy(&must(&["snapshot", node]).stdout).into_owned()
    }

    /// IPv4 addresses (CIDR, e.g. `"192.168.100.10/24"`) on `iface` of `node`, in kernel
    /// order.
    pub fn addresses(&self, node: &str, iface: &str) -> Vec<String> {
        let out = self.sh(node, &format!("ip -4 -o addr show dev '{iface}'"));
        out.lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                words.find(|w| *w == "inet")?;
                words.next().map(str::to_string)
            })
            .collect()
    }
}
