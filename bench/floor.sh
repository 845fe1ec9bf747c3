#!/usr/bin/env bash
# The plain-OpenSSH floor: ONE `ssh -F CFG ADDRESS 'the four commands'` per
# host, all hosts at once; each host's output in OUTDIR/ADDRESS; waits for all.
# Usage: floor.sh CFG OUTDIR ADDRESS...
set -u
cfg=$1 out=$2
shift 2
job='hostname; uname -r; cat /proc/loadavg; ip -4 -o addr show lo'
pids=()
for addr in "$@"; do
    ssh -F "$cfg" "$addr" "$job" >"$out/$addr" 2>&1 &
    pids+=("$!")
done
rc=0
for pid in "${pids[@]}"; do
    wait "$pid" || rc=1
done
exit "$rc"
