//! `bandwidth`: the last step of `sparklink verify` (reference §6), run by
//! `verify --bandwidth` on one node. For every cabled rail with an address on
//! both ends it starts a one-shot server on the peer, through the SSH over
//! the link that `sparklink up` set up, and runs the client here, bound to
//! this rail's address: `ib_write_bw` (perftest) when both nodes have it and
//! the RDMA devices, else `iperf3`, else it fails saying what to install.
//! A peer's rails run at the same time, as NVIDIA measures them (~92.6 +
//! 97.3 = 189.9 Gb/s); several peers run one after the other. The result:
//! Gb/s per rail and in all, against the port's 200 Gb/s line rate.
//!
//! Read-only and without sudo. No server outlives the run: servers are
//! one-shot, run under `timeout`, and are killed by pid when the client never
//! reached them. The parsers read the tools' real output (recorded samples in
//! `testdata/`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{strings, Context, ModuleError, Outcome, Play};
use crate::template::shell_quote;

/// One QSFP port (both twins together).
const LINE_RATE_GBPS: f64 = 200.0;
/// NVIDIA's `ib_write_bw` figure over both twins of a port (performance
/// benchmarking guide: 92.57 + 97.28).
const NVIDIA_TWO_RAILS_GBPS: f64 = 189.85;
/// NVIDIA's per-rail pass mark with `ib_write_bw` (`check-connectx-bandwidth`).
const HEALTHY_RAIL_GBPS: f64 = 80.0;
/// A rail in this range, on a 200G link at PCIe x4, is NVIDIA's signature of
/// a ConnectX-7 left in a stale initialization state.
const STALE_INIT_GBPS: std::ops::RangeInclusive<f64> = 8.0..=25.0;
/// First TCP port per tool (NVIDIA's guide uses 12000 and up for perftest);
/// rail N of a peer uses base + N so that its rails run side by side.
const IB_WRITE_BW_PORT: u16 = 12000;
const IPERF3_PORT: u16 = 5201;

/// What to install when neither tool is on both nodes.
const INSTALL: &str = "install perftest (ib_write_bw) or iperf3 on both nodes";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Seconds each measurement runs (NVIDIA's check uses 5).
    #[serde(default = "default_seconds")]
    seconds: u32,
}

fn default_seconds() -> u32 {
    5
}

/// Why a tool's output gave no figure.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("ib_write_bw printed no `BW average[Gb/sec]` column (run it with --report_gbits)")]
    NoGbitsColumn,
    #[error("ib_write_bw printed no result row (the test did not complete)")]
    NoResultRow,
    #[error("iperf3 did not print JSON: {0}")]
    NotJson(String),
    #[error("iperf3 failed: {0}")]
    Iperf3(String),
    #[error("iperf3 printed no end.sum_received.bits_per_second")]
    NoReceivedRate,
}

/// Gb/s from `ib_write_bw --report_gbits` (client or server): the `BW
/// average[Gb/sec]` column of the last result row (`--run_infinitely`
/// prints one row per period; with `-D` the peak column reads 0.00).
pub fn parse_ib_write_bw(text: &str) -> Result<f64, ParseError> {
    let mut column: Option<usize> = None;
    let mut last = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"#bytes") {
            column = header_columns(&words)
                .iter()
                .position(|c| c == "BW average[Gb/sec]");
            if column.is_none() {
                return Err(ParseError::NoGbitsColumn);
            }
            continue;
        }
        let Some(at) = column else { continue };
        let numbers: Option<Vec<f64>> = words.iter().map(|w| w.parse::<f64>().ok()).collect();
        if let Some(value) = numbers
            .filter(|n| n.len() > at)
            .and_then(|n| n.get(at).copied())
            .filter(|v| v.is_finite() && *v >= 0.0)
        {
            last = Some(value);
        }
    }
    match (column, last) {
        (None, _) => Err(ParseError::NoGbitsColumn),
        (Some(_), None) => Err(ParseError::NoResultRow),
        (Some(_), Some(value)) => Ok(value),
    }
}

/// `#bytes #iterations BW peak[Gb/sec] BW average[Gb/sec] ...` as column
/// names (`BW` belongs to the word after it).
fn header_columns(words: &[&str]) -> Vec<String> {
    let mut columns = Vec::new();
    let mut pending = None;
    for word in words {
        match pending.take() {
            Some(prefix) => columns.push(format!("{prefix} {word}")),
            None if *word == "BW" => pending = Some(*word),
            None => columns.push((*word).to_owned()),
        }
    }
    columns
}

/// Gb/s from `iperf3 -c ... -J`: `end.sum_received.bits_per_second` (what
/// the server received). iperf3 3.12 exits 0 with `-J` even when it failed,
/// so its `error` field is checked first.
pub fn parse_iperf3(json: &str) -> Result<f64, ParseError> {
    let doc: Value = serde_json::from_str(json).map_err(|e| ParseError::NotJson(e.to_string()))?;
    if let Some(error) = doc.get("error").and_then(Value::as_str) {
        return Err(ParseError::Iperf3(error.to_owned()));
    }
    doc.pointer("/end/sum_received/bits_per_second")
        .and_then(Value::as_f64)
        .filter(|bps| bps.is_finite() && *bps >= 0.0)
        .map(|bps| bps / 1e9)
        .ok_or(ParseError::NoReceivedRate)
}

/// One rail to measure: this node's interface and the peer's same-named one.
struct Rail {
    peer: String,
    iface: String,
    rdma: String,
    peer_rdma: String,
    mine: IpAddr,
    theirs: IpAddr,
    /// Position among the peer's rails, for the port.
    index: u16,
}

/// A rail measured.
#[derive(Debug, Serialize)]
struct Measured {
    peer: String,
    interface: String,
    address: String,
    peer_address: String,
    tool: String,
    gbps: f64,
    /// A veth or other virtual interface (the lab), not a Spark link.
    #[serde(rename = "virtual")]
    virtual_link: bool,
}

/// Runs on this node, once per rail (stdin unused). Arguments: peer address,
/// own address, interface, RDMA device, seconds, the TCP port for
/// `ib_write_bw` and for `iperf3`, then the three remote commands (tool probe,
/// `ib_write_bw` server, `iperf3` server), already quoted for the peer's shell.
/// Sections of its output start with `## `.
const RUN: &str = r###"peer=$1 mine=$2 iface=$3 dev=$4 secs=$5 ib_port=$6 iperf3_port=$7 probe=$8 ib_server=$9 iperf3_server=${10}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
rpc() { ssh -n -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes "$peer" "$1"; }
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
virt=no; [ -e "/sys/devices/virtual/net/$iface" ] && virt=yes
echo "## virtual $virt"
here=
for t in ib_write_bw iperf3; do command -v "$t" >/dev/null 2>&1 && here="$here $t"; done
[ -e "/sys/class/infiniband/$dev" ] && here="$here rdma"
echo "## here$here"
if ! there=$(rpc "$probe" 2>"$tmp/ssh"); then echo "## ssh $(tail -n 1 "$tmp/ssh")"; exit 0; fi
echo "## there $there"
if has "$here" ib_write_bw && has "$here" rdma && has "$there" ib_write_bw && has "$there" rdma; then
  tool=ib_write_bw server=$ib_server
  set -- ib_write_bw -d "$dev" -i 1 -p "$ib_port" -F --report_gbits -q 4 -D "$secs" "$peer"
elif has "$here" iperf3 && has "$there" iperf3; then
  tool=iperf3 server=$iperf3_server
  set -- iperf3 -c "$peer" -B "$mine" -p "$iperf3_port" -J -t "$secs"
else
  echo "## tool none"; exit 0
fi
echo "## tool $tool"
rpc "$server" >"$tmp/server" 2>&1 &
spid=$!
tries=0
while :; do
  timeout $((secs + 30)) "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  grep -q -e 'Connection refused' -e "Couldn't connect to" "$tmp/out" "$tmp/err" || break
  kill -0 "$spid" 2>/dev/null || break
  tries=$((tries + 1)); [ "$tries" -ge 40 ] && break
  sleep 0.25
done
echo "## client $rc"; cat "$tmp/out"
echo "## client-stderr"; cat "$tmp/err"
i=0
while kill -0 "$spid" 2>/dev/null && [ "$i" -lt 20 ]; do sleep 0.25; i=$((i + 1)); done
if kill -0 "$spid" 2>/dev/null; then
  pid=$(head -n 1 "$tmp/server")
  case $pid in '' | *[!0-9]*) ;; *) rpc "kill $pid" >/dev/null 2>&1 ;; esac
  kill "$spid" 2>/dev/null
fi
wait "$spid"; src=$?
echo "## server $src"; tail -n +2 "$tmp/server""###;

/// On the peer (through `sh -c`, whatever its login shell): which tools and
/// whether the RDMA device `$1` exist.
const REMOTE_PROBE: &str = r#"for t in ib_write_bw iperf3; do command -v "$t" >/dev/null 2>&1 && printf '%s ' "$t"; done; [ -e "/sys/class/infiniband/$1" ] && printf rdma; echo"#;
/// On the peer: prints its pid (for the kill), then becomes the server.
const REMOTE_IB_WRITE_BW: &str =
    r#"echo $$; exec timeout "$1" ib_write_bw -d "$2" -i 1 -p "$3" -F --report_gbits -q 4 -D "$4""#;
const REMOTE_IPERF3: &str = r#"echo $$; exec timeout "$1" iperf3 -s -1 -B "$2" -p "$3""#;

/// `sh -c SCRIPT sh ARGS...` as one line for the peer's login shell.
fn remote(script: &str, args: &[String]) -> String {
    let mut line = format!("sh -c {} sh", shell_quote(script));
    for arg in args {
        line.push(' ');
        line.push_str(&shell_quote(arg));
    }
    line
}

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    if !(1..=60).contains(&args.seconds) {
        return Err(ModuleError::Args {
            module: "bandwidth".into(),
            detail: format!("seconds: {} is not between 1 and 60", args.seconds),
        });
    }
    let play = Play::new(ctx.vars);
    let me = play.me.as_str();
    let (rails, mut problems) = rails(&play)?;
    let mut measured = Vec::new();
    // Peers one after the other (they share this node's port); a peer's rails together.
    let mut peers: Vec<&str> = rails.iter().map(|r| r.peer.as_str()).collect();
    peers.dedup();
    for peer in peers {
        let runs = rails
            .iter()
            .filter(|r| r.peer == peer)
            .map(|rail| measure(ctx, me, rail, args.seconds));
        for result in futures::future::join_all(runs).await {
            match result? {
                Ok(m) => measured.push(m),
                Err(problem) => problems.push(problem),
            }
        }
    }
    Ok(outcome(me, &measured, problems))
}

/// The rails to measure, and why some could not be.
fn rails(play: &Play<'_>) -> Result<(Vec<Rail>, Vec<String>), ModuleError> {
    let me = play.me.as_str();
    let mine = play.my_qsfp()?;
    let mut rails = Vec::new();
    let mut problems = Vec::new();
    for peer in play.hosts.iter().filter(|h| *h != me) {
        let Some(theirs) = play.qsfp(peer) else {
            problems.push(format!("{peer} could not be read over the management network, so no bandwidth to it was measured: check that it is on and that its sshd runs"));
            continue;
        };
        let mut index = 0;
        for iface in mine
            .interfaces
            .iter()
            .filter(|i| i.carrier && mine.cabled_ports.contains(&i.port))
        {
            let Some(other) = theirs.interfaces.iter().find(|i| i.name == iface.name) else {
                continue;
            };
            let (Some(mine_ip), Some(their_ip)) = (iface.ips.first(), other.ips.first()) else {
                continue;
            };
            let parse = |ip: &str| {
                ip.parse::<IpAddr>().map_err(|_| {
                    ModuleError::Failed(format!("`{ip}` in the qsfp facts is not an IP address"))
                })
            };
            rails.push(Rail {
                peer: peer.to_owned(),
                iface: iface.name.clone(),
                rdma: iface.rdma.clone(),
                peer_rdma: other.rdma.clone(),
                mine: parse(mine_ip)?,
                theirs: parse(their_ip)?,
                index,
            });
            index += 1;
        }
        if index == 0 {
            problems.push(format!("no rail with an address on both {me} and {peer}, so there is nothing to measure: run `sparklink up` (and `sparklink verify` for the cause)"));
        }
    }
    Ok((rails, problems))
}

/// One rail: the round trip to this node, then its output read.
async fn measure(
    ctx: &Context<'_>,
    me: &str,
    rail: &Rail,
    seconds: u32,
) -> Result<Result<Measured, String>, ModuleError> {
    let limit = (seconds + 30).to_string();
    let secs = seconds.to_string();
    let theirs = rail.theirs.to_string();
    let ib_port = (IB_WRITE_BW_PORT + rail.index).to_string();
    let iperf3_port = (IPERF3_PORT + rail.index).to_string();
    let mut argv = strings(&["sh", "-c", RUN, "sparklink-bandwidth"]);
    argv.extend([
        theirs.clone(),
        rail.mine.to_string(),
        rail.iface.clone(),
        rail.rdma.clone(),
        secs.clone(),
        ib_port.clone(),
        iperf3_port.clone(),
        remote(REMOTE_PROBE, std::slice::from_ref(&rail.peer_rdma)),
        remote(
            REMOTE_IB_WRITE_BW,
            &[limit.clone(), rail.peer_rdma.clone(), ib_port.clone(), secs],
        ),
        remote(REMOTE_IPERF3, &[limit, theirs.clone(), iperf3_port.clone()]),
    ]);
    let out = ctx.remote.run(argv, None, false).await?;
    let run = RunOutput::parse(&out.stdout_text());
    let label = format!("{} from {me} to {} at {theirs}", rail.iface, rail.peer);
    if let Some(said) = &run.ssh {
        return Ok(Err(format!("{label}: ssh over the link failed ({said}): `sparklink verify` without --bandwidth names the cause, `sparklink up` sets the keys up")));
    }
    let tool = match run.tool.as_deref() {
        Some(tool @ ("ib_write_bw" | "iperf3")) => tool.to_owned(),
        Some(_) => {
            return Ok(Err(format!(
                "no bandwidth tool on both ends ({me}: {}; {}: {}): {INSTALL}",
                tools(&run.here),
                rail.peer,
                tools(&run.there)
            )))
        }
        None => {
            let mut said = last_line(&out.stderr_text());
            if said.is_empty() {
                said = out
                    .status
                    .map_or_else(|| "killed".to_owned(), |rc| format!("exit {rc}"));
            }
            return Ok(Err(format!(
                "{label}: the measurement did not run ({said}): retry, and check that `sh`, `ssh` and `timeout` work on {me}"
            )));
        }
    };
    let parsed = if tool == "ib_write_bw" {
        parse_ib_write_bw(&run.client)
    } else {
        parse_iperf3(&run.client)
    };
    match parsed {
        Ok(gbps) => Ok(Ok(Measured {
            peer: rail.peer.clone(),
            interface: rail.iface.clone(),
            address: rail.mine.to_string(),
            peer_address: theirs,
            tool,
            gbps,
            virtual_link: run.virtual_link,
        })),
        Err(e) => {
            let port = if tool == "ib_write_bw" {
                ib_port
            } else {
                iperf3_port
            };
            let server = last_line(&run.server);
            let client = last_line(&run.client_stderr);
            let mut detail = e.to_string();
            for (who, said) in [("client", client), ("server", server)] {
                if !said.is_empty() && !detail.contains(&said) {
                    detail.push_str(&format!("; {who}: {said}"));
                }
            }
            Ok(Err(format!("{label} with {tool}: {detail}: check that nothing else listens on port {port} of {} and that `sparklink verify` passes", rail.peer)))
        }
    }
}

/// The sections of [`RUN`]'s output.
#[derive(Debug, Default)]
struct RunOutput {
    virtual_link: bool,
    here: Vec<String>,
    there: Vec<String>,
    /// The last line ssh printed when it failed.
    ssh: Option<String>,
    tool: Option<String>,
    client: String,
    client_stderr: String,
    server: String,
}

impl RunOutput {
    fn parse(text: &str) -> Self {
        let mut run = RunOutput::default();
        let mut section = "";
        for line in text.lines() {
            if let Some(header) = line.strip_prefix("## ") {
                let (kind, rest) = header.split_once(' ').unwrap_or((header, ""));
                let words = || rest.split_whitespace().map(str::to_owned).collect();
                section = match kind {
                    "virtual" => {
                        run.virtual_link = rest == "yes";
                        ""
                    }
                    "here" => {
                        run.here = words();
                        ""
                    }
                    "there" => {
                        run.there = words();
                        ""
                    }
                    "ssh" => {
                        run.ssh = Some(rest.to_owned());
                        ""
                    }
                    "tool" => {
                        run.tool = Some(rest.to_owned());
                        ""
                    }
                    "client" => "client",
                    "client-stderr" => "client-stderr",
                    "server" => "server",
                    _ => section,
                };
                continue;
            }
            let body = match section {
                "client" => &mut run.client,
                "client-stderr" => &mut run.client_stderr,
                "server" => &mut run.server,
                _ => continue,
            };
            body.push_str(line);
            body.push('\n');
        }
        run
    }
}

/// The tools a node has, for the install message.
fn tools(found: &[String]) -> String {
    let names: Vec<&str> = found
        .iter()
        .map(String::as_str)
        .filter(|t| *t != "rdma")
        .collect();
    if names.is_empty() {
        "neither".to_owned()
    } else {
        names.join(" and ")
    }
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned()
}

/// The task's result: the table, the message, the failures.
fn outcome(me: &str, measured: &[Measured], mut problems: Vec<String>) -> Outcome {
    let mut outcome = Outcome::default();
    let mut peers: Vec<&str> = measured.iter().map(|m| m.peer.as_str()).collect();
    peers.dedup();
    let several = peers.len() > 1;
    let mut columns = serde_json::Map::new();
    let mut lines = Vec::new();
    for peer in peers {
        let rails: Vec<&Measured> = measured.iter().filter(|m| m.peer == peer).collect();
        let suffix = if several {
            format!(" → {peer}")
        } else {
            String::new()
        };
        for m in &rails {
            columns.insert(
                format!("{}{suffix}", m.interface),
                format!("{:.1} Gb/s ({})", m.gbps, m.tool).into(),
            );
        }
        let total: f64 = rails.iter().map(|m| m.gbps).sum();
        let share = total / LINE_RATE_GBPS * 100.0;
        let total =
            format!("{total:.1} Gb/s, {share:.0}% of the {LINE_RATE_GBPS:.0} Gb/s line rate");
        columns.insert(format!("total{suffix}"), total.clone().into());
        let note = note(&rails, &mut problems);
        columns.insert(format!("note{suffix}"), note.clone().into());
        let each: Vec<String> = rails
            .iter()
            .map(|m| format!("{} {:.1} Gb/s ({})", m.interface, m.gbps, m.tool))
            .collect();
        lines.push(format!("to {peer}: {}; {total}; {note}", each.join(", ")));
    }
    if !measured.is_empty() {
        columns.insert(
            "NVIDIA".into(),
            format!("~{NVIDIA_TWO_RAILS_GBPS:.0} Gb/s over both rails with ib_write_bw").into(),
        );
        let mut summary = serde_json::Map::new();
        summary.insert("title".into(), "Bandwidth".into());
        summary.insert("columns".into(), Value::Object(columns));
        outcome
            .data
            .insert("summary".into(), Value::Object(summary));
    }
    outcome.data.insert(
        "rails".into(),
        serde_json::to_value(measured).unwrap_or_default(),
    );
    if measured.is_empty() && problems.is_empty() {
        problems.push(format!(
            "{me} has no peer in this run to measure against: run without --limit"
        ));
    }
    problems.dedup();
    outcome.failed = !problems.is_empty();
    outcome.msg = if outcome.failed {
        problems.join("\n")
    } else {
        lines.join("\n")
    };
    outcome
}

/// What the figures of one peer's rails mean; a rail below NVIDIA's pass
/// mark on a real link is a problem with its fix.
fn note(rails: &[&Measured], problems: &mut Vec<String>) -> String {
    if rails.iter().any(|m| m.virtual_link) {
        return "virtual interface (veth), not a Spark link: the figure is not comparable"
            .to_owned();
    }
    if rails.iter().any(|m| m.tool == "iperf3") {
        return "TCP with one stream cannot fill the link: install perftest on both nodes for the RDMA figure NVIDIA publishes".to_owned();
    }
    for m in rails.iter().filter(|m| m.gbps < HEALTHY_RAIL_GBPS) {
        let fix = if STALE_INIT_GBPS.contains(&m.gbps) {
            "the signature of a ConnectX-7 left in a stale state after boot or a cable change: keep the cable in place and reboot both nodes; if it stays, shut both down, unplug their power for 60 s and retest"
        } else {
            "check the cable and `sparklink verify` (speed, PCIe x4, MTU), then retest"
        };
        problems.push(format!(
            "{} to {}: {:.1} Gb/s, below the {HEALTHY_RAIL_GBPS:.0} Gb/s NVIDIA expects of a rail: {fix}",
            m.interface, m.peer, m.gbps
        ));
    }
    if rails.len() == 1 {
        return format!("one rail only: the ~{NVIDIA_TWO_RAILS_GBPS:.0} Gb/s needs both twins of the port addressed (`qsfp_addressing: static`)");
    }
    format!("each rail at or above NVIDIA's {HEALTHY_RAIL_GBPS:.0} Gb/s pass mark")
}

#[cfg(test)]
mod tests {
    use super::*;

    const IB_CLIENT: &str = include_str!("testdata/ib_write_bw_client.txt");
    const IB_NVIDIA: &str = include_str!("testdata/ib_write_bw_client_nvidia.txt");
    const IPERF3_CLIENT: &str = include_str!("testdata/iperf3_client.json");
    const IPERF3_LAB: &str = include_str!("testdata/iperf3_client_lab.json");
    const IPERF3_REFUSED: &str = include_str!("testdata/iperf3_refused.json");

    #[test]
    fn ib_write_bw_average_column_of_a_spark_run() {
        // 111.72 is the peak, 111.71 the average.
        assert_eq!(parse_ib_write_bw(IB_CLIENT), Ok(111.71));
    }

    #[test]
    fn ib_write_bw_last_row_of_nvidias_run() {
        // --run_infinitely: peak not measured (0.00), one row per period.
        assert_eq!(parse_ib_write_bw(IB_NVIDIA), Ok(92.57));
        let cut = IB_NVIDIA
            .rsplit_once("\n 65536")
            .map_or(IB_NVIDIA, |(head, _)| head);
        assert_eq!(parse_ib_write_bw(cut), Ok(92.56));
    }

    #[test]
    fn ib_write_bw_without_report_gbits_or_result_is_an_error() {
        let mb = IB_CLIENT.replace("[Gb/sec]", "[MB/sec]");
        assert_eq!(parse_ib_write_bw(&mb), Err(ParseError::NoGbitsColumn));
        let header_only = IB_CLIENT
            .lines()
            .filter(|l| !l.trim_start().starts_with("65536"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            parse_ib_write_bw(&header_only),
            Err(ParseError::NoResultRow)
        );
        let refused = " Couldn't connect to 192.168.100.11:12000\nUnable to open file descriptor for socket connection Unable to init the socket connection\n";
        assert_eq!(parse_ib_write_bw(refused), Err(ParseError::NoGbitsColumn));
        assert_eq!(parse_ib_write_bw(""), Err(ParseError::NoGbitsColumn));
        let torn = " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]\n 65536      20000            111.72\n 65536 x 1 NaN -4\n";
        assert_eq!(parse_ib_write_bw(torn), Err(ParseError::NoResultRow));
        insta::assert_snapshot!(ParseError::NoGbitsColumn.to_string(), @"ib_write_bw printed no `BW average[Gb/sec]` column (run it with --report_gbits)");
    }

    #[test]
    fn iperf3_received_rate_of_real_runs() {
        let gbps = parse_iperf3(IPERF3_CLIENT).unwrap();
        assert!((gbps - 0.129_638_594_989).abs() < 1e-9, "{gbps}");
        let gbps = parse_iperf3(IPERF3_LAB).unwrap();
        assert!((gbps - 14.207_182_253_627).abs() < 1e-9, "{gbps}");
    }

    #[test]
    fn iperf3_errors_are_errors_never_panics() {
        assert_eq!(
            parse_iperf3(IPERF3_REFUSED),
            Err(ParseError::Iperf3(
                "unable to connect to server: Connection refused".into()
            ))
        );
        assert!(matches!(
            parse_iperf3("iperf3: error - unable to connect to server"),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            parse_iperf3(&IPERF3_LAB[..IPERF3_LAB.len() / 2]),
            Err(ParseError::NotJson(_))
        ));
        assert_eq!(parse_iperf3("{}"), Err(ParseError::NoReceivedRate));
        assert_eq!(
            parse_iperf3(r#"{"end": {"sum_received": {"bits_per_second": "fast"}}}"#),
            Err(ParseError::NoReceivedRate)
        );
        assert_eq!(parse_iperf3("[]"), Err(ParseError::NoReceivedRate));
    }

    #[test]
    fn the_run_output_is_read_by_section() {
        let text = format!(
            "## virtual yes\n## here iperf3\n## there iperf3 \n## tool iperf3\n## client 0\n{IPERF3_LAB}## client-stderr\n## server 0\nServer listening on 5201 (test #1)\n"
        );
        let run = RunOutput::parse(&text);
        assert!(run.virtual_link);
        assert_eq!(run.here, ["iperf3"]);
        assert_eq!(run.there, ["iperf3"]);
        assert_eq!(run.tool.as_deref(), Some("iperf3"));
        assert!(parse_iperf3(&run.client).is_ok());
        assert_eq!(last_line(&run.server), "Server listening on 5201 (test #1)");
        let failed =
            RunOutput::parse("## virtual no\n## here\n## ssh Permission denied (publickey).\n");
        assert_eq!(
            failed.ssh.as_deref(),
            Some("Permission denied (publickey).")
        );
        assert_eq!(tools(&failed.here), "neither");
        assert_eq!(tools(&["ib_write_bw".into(), "rdma".into()]), "ib_write_bw");
    }

    #[test]
    fn remote_commands_keep_every_value_one_word() {
        let line = remote(REMOTE_IPERF3, &["35".into(), "1.2.3.4; rm -rf ~".into()]);
        let words = shlex::split(&line).unwrap();
        assert_eq!(words[..3], ["sh", "-c", REMOTE_IPERF3]);
        assert_eq!(words[3..], ["sh", "35", "1.2.3.4; rm -rf ~"]);
    }

    fn rail(iface: &str, gbps: f64, tool: &str, virtual_link: bool) -> Measured {
        Measured {
            peer: "spark-2".into(),
            interface: iface.into(),
            address: "192.168.100.10".into(),
            peer_address: "192.168.100.11".into(),
            tool: tool.into(),
            gbps,
            virtual_link,
        }
    }

    #[test]
    fn nvidias_figures_pass_and_fill_the_table() {
        let measured = [
            rail("enp1s0f0np0", 92.57, "ib_write_bw", false),
            rail("enP2p1s0f0np0", 97.28, "ib_write_bw", false),
        ];
        let out = outcome("spark-1", &measured, Vec::new());
        assert!(!out.failed, "{}", out.msg);
        let columns = &out.data["summary"]["columns"];
        assert_eq!(columns["enp1s0f0np0"], "92.6 Gb/s (ib_write_bw)");
        assert_eq!(
            columns["total"],
            "189.8 Gb/s, 95% of the 200 Gb/s line rate"
        );
        assert_eq!(
            columns["NVIDIA"],
            "~190 Gb/s over both rails with ib_write_bw"
        );
        assert_eq!(
            columns["note"],
            "each rail at or above NVIDIA's 80 Gb/s pass mark"
        );
    }

    #[test]
    fn a_rail_in_the_stale_initialization_range_fails_with_the_fix() {
        let measured = [
            rail("enp1s0f1np1", 13.2, "ib_write_bw", false),
            rail("enP2p1s0f1np1", 97.3, "ib_write_bw", false),
        ];
        let out = outcome("spark-1", &measured, Vec::new());
        assert!(out.failed);
        insta::assert_snapshot!(out.msg, @"enp1s0f1np1 to spark-2: 13.2 Gb/s, below the 80 Gb/s NVIDIA expects of a rail: the signature of a ConnectX-7 left in a stale state after boot or a cable change: keep the cable in place and reboot both nodes; if it stays, shut both down, unplug their power for 60 s and retest");
    }

    #[test]
    fn a_veth_is_not_judged() {
        let measured = [rail("enp1s0f1np1", 3.0, "iperf3", true)];
        let out = outcome("spark-1", &measured, Vec::new());
        assert!(!out.failed);
        assert!(out.msg.contains("not a Spark link"), "{}", out.msg);
    }
}
