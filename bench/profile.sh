#!/usr/bin/env bash
# Where sparklink's time over the floor goes, at one N. Run by run.sh in the
# lab (BENCH_PROFILE), or by hand:
#     BENCH_NS=32 BENCH_EXEC='bash $HERE/profile.sh 32 5' bash bench/run.sh
# Uses: STATE CFG BIN NET HERE from run.sh.
#
# 1. Decomposition, REPEATS runs each (medians): the floor; sparklink on
#    job1.yml (the same four commands as ONE task: one remote shell per host,
#    as the floor) = the floor + sparklink's fixed cost; sparklink on job.yml
#    (four tasks) = that + three more task round trips. Server CPU is the sshd
#    side (cgroup), so the extra remote sessions show there.
# 2. sparklink under `perf record` (exec, exit, connect tracepoints: cheap,
#    unlike strace, which doubled the run time): its phases.
set -euo pipefail
n=${1:-32}
reps=${2:-5}
out=$STATE/profile
mkdir -p "$out"
addrs=$(for k in $(seq 1 "$n"); do printf '%s.%s ' "$NET" "$k"; done)
srv=()
[ -n "${SRV_CG:-}" ] && srv=(--server-cgroup "$SRV_CG")

one() { # label tasks cmd...
    local label=$1 tasks=$2 rep=$3
    shift 3
    local dir=$out/$label-$rep
    mkdir -p "$dir"
    python3 "$HERE/measure.py" run --out "$out/results.jsonl" --label "$label" --n "$n" --rep "$rep" \
        --stdout "$dir/stdout" --stderr "$dir/stderr" --quiet-wait 2 --cgroup-prefix "slbench-run${RUN_PID:-x}-" \
        "${srv[@]}" -- "$@" >/dev/null
    if [ "$tasks" != 0 ]; then
        python3 "$HERE/measure.py" check-sparklink "$dir/stdout" "$n" --tasks "$tasks" >&2 \
            || echo "!! $label rep $rep: bad output" >&2
    fi
}

echo "== decomposition at N=$n ($reps runs each, medians)"
for rep in $(seq 0 "$reps"); do # rep 0: warm-up, dropped below
    d=$out/floor-$rep
    mkdir -p "$d"
    one "openssh (floor)" 0 "$rep" bash "$HERE/floor.sh" "$CFG" "$d" $addrs
    one "sparklink, 1 task" 1 "$rep" "$BIN" run "$HERE/job1.yml" -i "$STATE/inventory-$n.yml" --json --forks "$n"
    one "sparklink, 4 tasks" 4 "$rep" "$BIN" run "$HERE/job.yml" -i "$STATE/inventory-$n.yml" --json --forks "$n"
done
grep -v '"rep": 0,' "$out/results.jsonl" >"$out/measured.jsonl"
python3 "$HERE/measure.py" summarize "$out/measured.jsonl"

echo "== sparklink's phases at N=$n, 3 runs under perf record (kernel tracepoints: exec, exit, connect)"
if perf record -q -o "$out/perf.probe" -e sched:sched_process_exec -- true >/dev/null 2>&1; then
    for i in 1 2 3; do
        python3 "$HERE/measure.py" quiet 2
        perf record -q -o "$out/perf-$i.data" \
            -e sched:sched_process_exec,sched:sched_process_exit,syscalls:sys_enter_connect -- \
            "$BIN" run "$HERE/job.yml" -i "$STATE/inventory-$n.yml" --json --forks "$n" >"$out/perf-$i.stdout"
        perf script -i "$out/perf-$i.data" -F comm,pid,tid,time,event,trace >"$out/perf-$i.txt" 2>/dev/null
        python3 "$HERE/measure.py" check-sparklink "$out/perf-$i.stdout" "$n" || echo "!! bad output"
    done
    python3 "$HERE/measure.py" phases "$n" --tasks 4 "$out"/perf-[123].txt
else
    echo "(perf cannot record tracepoints here: apt-get install linux-perf, and run as root)"
fi
