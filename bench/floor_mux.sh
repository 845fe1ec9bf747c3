#!/usr/bin/env bash
# A reference, not a tool: sparklink's protocol flow done with plain OpenSSH
# processes. One master per host (`ssh -M -f -N`, ControlPersist), then the
# four commands as four tasks, each task on all hosts at once over the mux
# socket (`ssh -S`), a barrier between tasks (Ansible's linear strategy, as
# sparklink runs it), then `ssh -O exit` to every master.
# Usage: floor_mux.sh CFG OUTDIR ADDRESS...
set -u
cfg=$1 out=$2
shift 2
rc=0
waitall() {
    local pid
    for pid in "$@"; do wait "$pid" || rc=1; done
}
pids=()
for addr in "$@"; do
    ssh -F "$cfg" -M -f -N -o ControlPersist=yes -S "$out/ctl-$addr" "$addr" &
    pids+=("$!")
done
waitall "${pids[@]}"
for cmd in hostname 'uname -r' 'cat /proc/loadavg' 'ip -4 -o addr show lo'; do
    pids=()
    for addr in "$@"; do
        ssh -F "$cfg" -S "$out/ctl-$addr" "$addr" "$cmd" >>"$out/$addr" 2>&1 &
        pids+=("$!")
    done
    waitall "${pids[@]}"
done
pids=()
for addr in "$@"; do
    ssh -F "$cfg" -S "$out/ctl-$addr" -O exit "$addr" 2>/dev/null &
    pids+=("$!")
done
waitall "${pids[@]}"
exit "$rc"
