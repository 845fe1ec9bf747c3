#!/usr/bin/env python3
"""Measuring helper for bench/run.sh.

    measure.py run --out RESULT.json --stdout F --stderr F -- CMD ARGS...

Runs CMD in a fresh cgroup (v2, named slbench-*, created here and removed
here), and reports as one JSON object:

  wall_s        from exec of CMD (the forked child, once in the cgroup,
                reads the clock) to its exit (perf_counter; the sampler runs
                in its own thread and does not delay it)
  peak_rss_kib  the largest sum, over one sample, of the resident set size
                (/proc/PID/stat rss, = VmRSS) of every process in the cgroup: the tool,
                its workers and every ssh it spawned, daemonized ones too
                (a ControlPersist master leaves the process tree, not the
                cgroup). Sampled every 10 ms.
  peak_procs    most processes alive in one sample
  ssh_seen      distinct ssh processes seen by the sampler (a lower bound:
                one that lives < 10 ms can be missed)
  cpu_s         user+system CPU of everything that ran in the cgroup
                (cgroup v2 cpu.stat usage_usec), the server side excluded
  server_cpu_s  CPU the sshd servers used from fork to exit of CMD
                (--server-cgroup: the cgroup run.sh starts them in)
  sampler_cpu_s CPU of this helper's sampling thread
  other_cpu_s   CPU the rest of the machine used meanwhile (/proc/stat busy
                time minus the three above): noise from other work
  leftover      processes still in the cgroup after CMD exited (killed
                then with cgroup.kill; a ControlPersist master shows here)
  rc            CMD's exit status

Without a cgroup v2 hierarchy it falls back to walking CMD's descendants
by PPid (which misses daemonized processes) and says so in "method".

    measure.py summarize RESULTS.jsonl   prints the table run.sh shows.
    measure.py check-sparklink STDOUT N  checks a `sparklink --json` output.
    measure.py phases N PERF_SCRIPT...   sparklink's phases from perf traces.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
INTERVAL = 0.010


def cgroup2_root():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "cgroup2":
                return parts[1]
    return None


def read_pids(path):
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def comm_rss(pid):
    """(name, resident KiB) from one read of /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        name = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode(errors="replace")
        fields = stat[stat.rindex(b")") + 2 :].split()
        return name, int(fields[21]) * PAGE_KIB  # field 24: rss, in pages
    except (OSError, IndexError, ValueError):
        return "", 0


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def descendants(root):
    """Fallback: root and its descendants, by PPid."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_usec(cg):
    try:
        with open(os.path.join(cg, "cpu.stat")) as f:
            for line in f:
                k, v = line.split()
                if k == "usage_usec":
                    return int(v)
    except OSError:
        pass
    return None


def machine_busy_s():
    """CPU seconds the whole machine spent busy (all CPUs) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def kill_cgroup(cg):
    """SIGKILL everything in the cgroup, and wait (5 s at most) until it is empty."""
    procs = os.path.join(cg, "cgroup.procs")
    pids = read_pids(procs)
    if not pids:
        return
    try:
        with open(os.path.join(cg, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    deadline = time.monotonic() + 5
    while read_pids(procs) and time.monotonic() < deadline:
        time.sleep(0.01)


def remove_cgroup(cg):
    for _ in range(100):
        try:
            os.rmdir(cg)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def wait_quiet(limit):
    """Wait (at most `limit` s) for a quiet machine: other people's work on
    the same 2 CPUs is the main noise here. Returns the time waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        b0 = machine_busy_s()
        time.sleep(0.25)
        if (machine_busy_s() - b0) / 0.25 < 0.15:
            break
    return time.monotonic() - start


def run(args):
    root = cgroup2_root()
    cg = None
    if root:
        cg = os.path.join(root, f"{args.cgroup_prefix}{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.mkdir(cg)
        except OSError:
            cg = None
    method = "cgroup2" if cg else "ppid-tree (daemonized processes missed)"

    # The clock starts in the child, once it is in the cgroup, just before
    # exec: moving a process into a cgroup takes ~20 ms here, which is not
    # the tool's time. perf_counter is CLOCK_MONOTONIC, the same in both.
    start_r, start_w = os.pipe()

    def enter_cgroup():
        if cg:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        os.write(start_w, repr(time.perf_counter()).encode())
        os.close(start_w)

    stdout = open(args.stdout, "wb")
    stderr = open(args.stderr, "wb")
    state = {"peak": 0, "peak_procs": 0, "ssh": set(), "stop": False, "samples": 0}

    def sample(pids):
        total = 0
        for pid in pids:
            # The name is read every time: a forked child shows its parent's
            # name until it execs.
            name, rss = comm_rss(pid)
            total += rss
            if name == "ssh":
                state["ssh"].add(pid)
        state["samples"] += 1
        if total > state["peak"]:
            state["peak"] = total
        if len(pids) > state["peak_procs"]:
            state["peak_procs"] = len(pids)

    waited = wait_quiet(args.quiet_wait)
    srv0 = cpu_usec(args.server_cgroup) if args.server_cgroup else None
    busy0 = machine_busy_s()

    # Interrupted (Ctrl-C, or run.sh's teardown): leave nothing running.
    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return measured(args, cg, method, enter_cgroup, (start_r, start_w), sample, stdout, stderr, state,
                        srv0, busy0, waited)
    except BaseException:
        state["stop"] = True
        if cg:
            kill_cgroup(cg)
            remove_cgroup(cg)
        elif state.get("proc"):
            state["proc"].kill()
        raise


def measured(args, cg, method, enter_cgroup, start_pipe, sample, stdout, stderr, state, srv0, busy0, waited):
    """run(), from the fork on."""
    proc = subprocess.Popen(
        args.cmd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
        preexec_fn=enter_cgroup,
    )
    state["proc"] = proc
    start_r, start_w = start_pipe
    os.close(start_w)
    with os.fdopen(start_r, "rb") as f:
        t0 = float(f.read().decode())

    def sampler():
        cpu0 = time.thread_time()
        nxt = time.perf_counter()
        while not state["stop"]:
            pids = read_pids(os.path.join(cg, "cgroup.procs")) if cg else descendants(proc.pid)
            sample(pids)
            nxt += INTERVAL
            delay = nxt - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                nxt = time.perf_counter()
        state["sampler_cpu"] = time.thread_time() - cpu0

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    # A blocking wait (wait(timeout=) polls, up to 50 ms late); the timeout
    # is a timer that kills the tool.
    timed_out = threading.Event()

    def on_timeout():
        timed_out.set()
        proc.kill()

    timer = threading.Timer(args.timeout, on_timeout)
    timer.daemon = True
    timer.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    timer.cancel()
    if timed_out.is_set():
        rc = f"timeout after {args.timeout}s"
    srv1 = cpu_usec(args.server_cgroup) if args.server_cgroup else None
    busy1 = machine_busy_s()
    state["stop"] = True
    thread.join()

    leftover = []
    if cg:
        pids = read_pids(os.path.join(cg, "cgroup.procs"))
        leftover = [f"{p}:{comm(p)}" for p in pids]
        kill_cgroup(cg)
        cpu = cpu_usec(cg)
        remove_cgroup(cg)
    else:
        cpu = None
    server_cpu = None if srv0 is None or srv1 is None else (srv1 - srv0) / 1e6
    other = None
    if cpu is not None:
        # Everything else the machine did meanwhile: other people's work, the
        # sampler. Approximate (the tool's CPU is read after the cleanup).
        other = max(0.0, (busy1 - busy0) - cpu / 1e6 - (server_cpu or 0) - state.get("sampler_cpu", 0))
    result = {
        "label": args.label,
        "n": args.n,
        "rep": args.rep,
        "rc": rc,
        "wall_s": round(wall, 4),
        "peak_rss_kib": state["peak"],
        "peak_procs": state["peak_procs"],
        "ssh_seen": len(state["ssh"]),
        "cpu_s": None if cpu is None else round(cpu / 1e6, 3),
        "server_cpu_s": None if server_cpu is None else round(server_cpu, 3),
        "other_cpu_s": None if other is None else round(other, 3),
        "sampler_cpu_s": round(state.get("sampler_cpu", 0), 3),
        "quiet_wait_s": round(waited, 2),
        "leftover": leftover,
        "samples": state["samples"],
        "method": method,
    }
    line = json.dumps(result)
    with open(args.out, "a") as f:
        f.write(line + "\n")
    print(line)
    return 0


def summarize(args):
    rows = {}
    order = []
    with open(args.results) as f:
        for line in f:
            r = json.loads(line)
            key = (r["label"], r["n"])
            if key not in rows:
                rows[key] = []
                order.append(key)
            rows[key].append(r)

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    summary = {}
    for key in order:
        runs = rows[key]
        ok = [r for r in runs if r["rc"] == 0]
        summary[key] = {
            "runs": len(runs),
            "ok": len(ok),
            "wall": med([r["wall_s"] for r in ok]),
            "wall_min": min((r["wall_s"] for r in ok), default=None),
            "wall_max": max((r["wall_s"] for r in ok), default=None),
            "mem": med([r["peak_rss_kib"] / 1024 for r in ok]),
            "cpu": med([r["cpu_s"] for r in ok]),
            "srv": med([r.get("server_cpu_s") for r in ok]),
            "other": med([r.get("other_cpu_s") for r in ok]),
            "procs": max((r["peak_procs"] for r in ok), default=None),
            "ssh": max((r["ssh_seen"] for r in ok), default=None),
            "left": max((len(r["leftover"]) for r in ok), default=0),
            "again": sum(r.get("attempts", 1) - 1 for r in runs),
        }

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    head = (f"{'tool':<26} {'N':>3} {'ok':>5} {'median s':>9} {'min-max s':>13} {'x floor':>8}"
            f" {'peak RSS MiB':>13} {'x floor':>8} {'CPU s':>6} {'srv CPU':>7} {'other':>6} {'procs':>5} {'ssh':>4} {'left':>4} {'rerun':>5}")
    print(head)
    print("-" * len(head))
    ns = []
    for _, n in order:
        if n not in ns:
            ns.append(n)
    for n in ns:
        floor = summary.get((args.floor, n))
        for key in order:
            if key[1] != n:
                continue
            s = summary[key]
            rt = (s["wall"] / floor["wall"]) if floor and floor["wall"] and s["wall"] else None
            rm = (s["mem"] / floor["mem"]) if floor and floor["mem"] and s["mem"] else None
            span = "-" if s["wall_min"] is None else f"{s['wall_min']:.3f}-{s['wall_max']:.3f}"
            print(f"{key[0]:<26} {n:>3} {s['ok']:>2}/{s['runs']:<2} {fmt(s['wall'], '.3f'):>9}"
                  f" {span:>13} {fmt(rt, '.2f'):>8} {fmt(s['mem'], '.1f'):>13}"
                  f" {fmt(rm, '.2f'):>8} {fmt(s['cpu'], '.2f'):>6} {fmt(s['srv'], '.2f'):>7} {fmt(s['other'], '.2f'):>6}"
                  f" {fmt(s['procs'], 'd'):>5} {fmt(s['ssh'], 'd'):>4} {s['left']:>4} {s['again']:>5}")
        print()
    return 0


def check_sparklink(args):
    """sparklink --json: every host ok, rc 0 and some stdout, on every task."""
    with open(args.stdout) as f:
        doc = json.load(f)
    ok = sum(
        1
        for play in doc["plays"]
        for task in play["tasks"]
        if task["name"] != "connect"
        for result in task["results"].values()
        if result["status"] == "ok" and result["data"]["rc"] == 0 and result["data"]["stdout"]
    )
    if ok != args.tasks * args.n:
        print(f"{ok} ok results, want {args.tasks * args.n}")
        return 1
    return 0


def phases_of(path, n, k):
    """(phase rows [(name, seconds, note)], summary line) of one perf trace."""
    import re

    line_re = re.compile(r"^\s*(\S.*?)\s+(\d+)/(\d+)\s+(\d+\.\d+):\s+(\S+):\s*(.*)$")
    events = []
    with open(path) as f:
        for line in f:
            m = line_re.match(line)
            if m:
                comm_, pid, tid, ts, event, rest = m.groups()
                events.append((comm_, int(pid), int(tid), float(ts), event, rest))
    execs = [e for e in events if e[4] == "sched:sched_process_exec"]
    if not execs:
        return None, "no events"
    main_pid, t0 = execs[0][1], execs[0][3]
    masters = {
        e[1]: e[3] for e in execs
        if "filename=" in e[5] and e[5].split("filename=")[1].split()[0].endswith("/ssh")
    }
    ready, daemon_exits, mux, end = [], [], [], None
    for comm_, pid, tid, ts, event, rest in events:
        if event == "sched:sched_process_exit":
            if pid in masters and tid == pid:
                ready.append(ts)
            elif comm_ == "ssh":
                daemon_exits.append(ts)
            elif pid == main_pid and tid == pid:
                end = ts
        elif event == "syscalls:sys_enter_connect" and pid == main_pid:
            mux.append(ts)
    # Newer sparklink opens one more session per host first: the run lock,
    # held until the end.
    lock = len(mux) == (k + 2) * n
    line = (f"ssh processes exec'd: {len(masters)} (one master per host, each forks once into the"
            f" background); mux connects from sparklink: {len(mux)} (= {'1 lock + ' if lock else ''}"
            f"{k} tasks x {n} hosts + {n} closes: {len(mux) in ((k + 1) * n, (k + 2) * n)})")
    if not masters or len(mux) not in ((k + 1) * n, (k + 2) * n) or end is None:
        return None, line + ": unexpected trace shape"
    if lock:
        lock_sessions, mux = mux[:n], mux[n:]
    first_ssh = min(masters.values())
    starts = [mux[i * n] for i in range(k + 1)]
    rows = [
        ("start (exec -> first ssh)", first_ssh - t0, ""),
        (f"connect ({n} masters ready)", max(ready) - first_ssh, "ssh -M -f, all at once"),
    ]
    if lock:
        rows.append(("masters ready -> lock sessions", lock_sessions[0] - max(ready), ""))
        rows.append((f"run lock ({n} sessions) -> task 1", starts[0] - lock_sessions[0],
                     "the per-node lock, taken before task 1"))
    else:
        rows.append(("last master ready -> task 1", starts[0] - max(ready), ""))
    for i in range(k):
        spread = mux[(i + 1) * n - 1] - mux[i * n]
        rows.append((f"task {i + 1} (incl. barrier)", starts[i + 1] - starts[i],
                     f"its {n} mux sessions opened within {spread * 1000:.1f} ms"))
    gaps = [mux[k * n + j + 1] - mux[k * n + j] for j in range(n - 1)]
    rows.append((f"close ({n} masters)", end - starts[k],
                 f"one after another, {statistics.median(gaps) * 1000:.2f} ms apart" if gaps else ""))
    rows.append(("total", end - t0, ""))
    return rows, line


def phases(args):
    """sparklink's phases from `perf record -e sched:sched_process_exec,
    sched:sched_process_exit,syscalls:sys_enter_connect` (kernel tracepoints,
    the children followed; `perf script -F comm,pid,tid,time,event,trace`):
    its start, the masters (`ssh -M -f`: the foreground ssh exits once the
    master is authenticated and forked into the background), each task (its
    N mux connects from sparklink; a task lasts until the next one starts,
    the barrier included), and the closing (one mux connect per master, up
    to sparklink's exit). Median over the traces given."""
    all_rows = []
    for path in args.trace:
        rows, line = phases_of(path, args.n, args.tasks)
        print(f"{os.path.basename(path)}: {line}")
        if rows:
            all_rows.append(rows)
    if not all_rows:
        return 1
    print(f"  {'phase (median of ' + str(len(all_rows)) + ' runs)':<32} {'ms':>7} {'min-max':>13}")
    for i, (name, _, note) in enumerate(all_rows[0]):
        values = [rows[i][1] * 1000 for rows in all_rows]
        span = f"{min(values):.1f}-{max(values):.1f}"
        print(f"  {name:<32} {statistics.median(values):7.1f} {span:>13}   {note}")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--label", required=True)
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--rep", type=int, default=0)
    r.add_argument("--stdout", default="/dev/null")
    r.add_argument("--stderr", default="/dev/null")
    r.add_argument("--timeout", type=float, default=300)
    r.add_argument("--cgroup-prefix", default="slbench-",
                   help="name prefix of the run's cgroup (run.sh removes its own leftovers by it)")
    r.add_argument("--quiet-wait", type=float, default=0,
                   help="first wait up to this many seconds for the machine to be idle (<0.15 CPU busy)")
    r.add_argument("--server-cgroup", help="cgroup of the sshd servers: their CPU during the run")
    r.add_argument("cmd", nargs=argparse.REMAINDER)
    s = sub.add_parser("summarize")
    s.add_argument("results")
    s.add_argument("--floor", default="openssh (floor)")
    q = sub.add_parser("quiet")
    q.add_argument("limit", type=float)
    c = sub.add_parser("check-sparklink")
    c.add_argument("stdout")
    c.add_argument("n", type=int)
    c.add_argument("--tasks", type=int, default=4)
    t = sub.add_parser("phases")
    t.add_argument("n", type=int)
    t.add_argument("trace", nargs="+")
    t.add_argument("--tasks", type=int, default=4)
    args = p.parse_args()
    if args.verb == "quiet":
        wait_quiet(args.limit)
        return 0
    if args.verb == "check-sparklink":
        return check_sparklink(args)
    if args.verb == "phases":
        return phases(args)
    if args.verb == "run":
        if args.cmd and args.cmd[0] == "--":
            args.cmd = args.cmd[1:]
        if not args.cmd:
            p.error("no command")
        return run(args)
    return summarize(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: run() has cleaned up
        sys.exit(130)
