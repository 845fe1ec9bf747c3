#!/usr/bin/env bash
# sparklink speed-and-memory benchmark. Run by hand, as root, from anywhere:
#
#     bash bench/run.sh
#
# Starts N sshd hosts on 127.77.0.1..N (port 22, loopback only), runs the same
# read-only job (bench/job.yml: four registered `command` tasks) with
# sparklink, with plain OpenSSH (the floor: one ssh per host, all at once),
# and with ansible-playbook and pyinfra (from a venv at /tmp/slbench-venv),
# for N = 2, 8, 32, REPEATS times each, and prints the table. Everything it
# starts is stopped, and its state dir removed, on exit (trap).
#
# Environment knobs (defaults in brackets):
#   BENCH_NS        host counts                       ["2 8 32"]
#   BENCH_REPEATS   measured runs per tool and N      [5] (plus 1 unmeasured warm-up)
#   BENCH_TOOLS     which rows                        ["floor mux sparklink sparklink-default ansible pyinfra"]
#   BENCH_NO_BUILD  1: skip `cargo build --release`
#   BENCH_BIN       another sparklink binary to measure (no build; e.g. one
#                   built from `git archive HEAD` to compare with the work tree)
#   BENCH_NO_PY     1: skip ansible and pyinfra (no venv install)
#   BENCH_VENV      venv for ansible-core and pyinfra [/tmp/slbench-venv]
#   BENCH_EXEC      a shell command to run in the lab instead of the benchmark
#                   (profiling; it sees STATE CFG BIN NET VENV HERE, inventories
#                   in $STATE/inventory-N.yml)
#   BENCH_PROFILE   0: skip the profile of sparklink at the largest N (bench/profile.sh)
#   BENCH_KEEP      1: keep the state dir (outputs of every run) for inspection
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
NS=${BENCH_NS:-"2 8 32"}
REPEATS=${BENCH_REPEATS:-5}
TOOLS=${BENCH_TOOLS:-"floor mux sparklink sparklink-default ansible pyinfra"}
VENV=${BENCH_VENV:-/tmp/slbench-venv}
NET=127.77.0
BIN=${BENCH_BIN:-$REPO/target/release/sparklink}

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (sshd needs it)"
for t in sshd ssh ssh-keygen ss python3 unshare; do
    command -v "$t" >/dev/null || die "missing $t (apt-get install openssh-server openssh-client iproute2 python3 util-linux)"
done
MAXN=0
for n in $NS; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
[ "$MAXN" -le 254 ] || die "at most 254 hosts"

STATE=$(mktemp -d /tmp/slbench-XXXXXX)
chmod 700 "$STATE"
SSHD_PIDS=()
MADE_PRIVSEP=0
SRV_CG=
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pidfile in "$STATE"/hosts/*/sshd.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SSHD_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$SRV_CG" ]; then
        for _ in $(seq 1 100); do
            rmdir "$SRV_CG" 2>/dev/null && break
            sleep 0.05
        done
    fi
    # A measured run that was interrupted: its cgroup, and what is left in it.
    if [ -n "$CG2" ]; then
        for cg in "$CG2"/slbench-run$$-*; do
            [ -d "$cg" ] || continue
            echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
            for _ in $(seq 1 100); do
                rmdir "$cg" 2>/dev/null && break
                sleep 0.05
            done
        done
    fi
    # sshd's privilege-separation dir, only if this run created it.
    if [ "$MADE_PRIVSEP" = 1 ]; then rmdir /run/sshd 2>/dev/null || true; fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "state kept in $STATE (sshd stopped)"
    else
        rm -rf "$STATE"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ------------------------------------------------------------------
if [ "${BENCH_NO_BUILD:-0}" != 1 ] && [ -z "${BENCH_BIN:-}" ]; then
    say "== cargo build --release"
    (cd "$REPO" && cargo build --release --quiet) || die "cargo build failed"
fi
[ -x "$BIN" ] || die "no $BIN"

# --- ansible-core and pyinfra -------------------------------------------------
HAVE_PY=0
if [ "${BENCH_NO_PY:-0}" != 1 ]; then
    if [ ! -x "$VENV/bin/ansible-playbook" ] || [ ! -x "$VENV/bin/pyinfra" ]; then
        say "== installing ansible-core and pyinfra into $VENV"
        if python3 -m venv "$VENV" && "$VENV/bin/pip" install -q ansible-core pyinfra >"$STATE/pip.log" 2>&1; then
            :
        else
            say "pip install ansible-core pyinfra FAILED (see below): the ansible and pyinfra rows are skipped"
            tail -5 "$STATE/pip.log" >&2 || true
        fi
    fi
    if [ -x "$VENV/bin/ansible-playbook" ] && [ -x "$VENV/bin/pyinfra" ]; then
        HAVE_PY=1
    fi
fi

# --- keys, sshd hosts, client config -------------------------------------------
say "== starting $MAXN sshd hosts on $NET.1-$MAXN:22 (state in $STATE)"
ssh-keygen -q -t ed25519 -N '' -C slbench-client -f "$STATE/client_key"
cp "$STATE/client_key.pub" "$STATE/authorized_keys"
: >"$STATE/known_hosts"
SSHD=$(command -v sshd)
if [ ! -d /run/sshd ]; then # sshd refuses to start without it; removed again at exit
    mkdir -m 755 /run/sshd
    MADE_PRIVSEP=1
fi
# Each sshd runs in a mount namespace of its own (bench/sshd-ns.sh; not a
# network namespace), so that each host looks like a separate node:
# - its own /run/lock: sparklink holds a per-node run lock there;
# - an empty ~/.bashrc: sshd runs every command through the login shell, and
#   bash, started by sshd, sources ~/.bashrc even when not interactive. This
#   machine's /root/.bashrc runs `pyenv init` (~85 ms and ~0.1 s of CPU per
#   command, measured), which a real node's default .bashrc (it returns at
#   once when not interactive) does not. BENCH_REMOTE_BASHRC=keep keeps it.
# The servers also run in a cgroup of their own, to measure their CPU per run.
SRV_CG=
if [ -n "$CG2" ] && mkdir "$CG2/slbench-sshd-$$" 2>/dev/null; then
    SRV_CG=$CG2/slbench-sshd-$$
fi
USER_HOME=$(getent passwd "$(id -un)" | cut -d: -f6)
EMPTY_BASHRC=
if [ "${BENCH_REMOTE_BASHRC:-empty}" != keep ] && [ -f "$USER_HOME/.bashrc" ]; then
    EMPTY_BASHRC=$STATE/empty_bashrc
    : >"$EMPTY_BASHRC"
fi
for k in $(seq 1 "$MAXN"); do
    d=$STATE/hosts/h$k
    mkdir -p "$d"
    ssh-keygen -q -t ed25519 -N '' -C "slbench-h$k" -f "$d/ssh_host_ed25519_key"
    echo "$NET.$k $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$STATE/known_hosts"
    # One key exchange for every client, paramiko (pyinfra) included:
    # curve25519 kex, ed25519 host and user keys, AES-128-GCM.
    cat >"$d/sshd_config" <<EOF
ListenAddress $NET.$k:22
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $STATE/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 200:30:400
MaxSessions 20
KexAlgorithms curve25519-sha256@libssh.org
HostKeyAlgorithms ssh-ed25519
PubkeyAcceptedAlgorithms ssh-ed25519
Ciphers aes128-gcm@openssh.com
MACs hmac-sha2-256-etm@openssh.com
LogLevel ERROR
Subsystem sftp internal-sftp
EOF
    unshare --mount --propagation private sh "$HERE/sshd-ns.sh" "$SRV_CG" "$d" "$EMPTY_BASHRC" \
        "$USER_HOME/.bashrc" "$SSHD" -D -f "$d/sshd_config" -E "$d/sshd.log" &
    SSHD_PIDS+=("$!")
    echo "$!" >"$d/sshd.pid"
done

CFG=$STATE/ssh_config
cat >"$CFG" <<EOF
Host *
    User root
    IdentityFile $STATE/client_key
    IdentitiesOnly yes
    IdentityAgent none
    UserKnownHostsFile $STATE/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    UpdateHostKeys no
    BatchMode yes
    ControlMaster no
    ConnectTimeout 10
    LogLevel ERROR
EOF

for k in $(seq 1 "$MAXN"); do
    for _ in $(seq 1 200); do
        ss -ltnH "src $NET.$k:22" | grep -q . && break
        sleep 0.05
    done
    ss -ltnH "src $NET.$k:22" | grep -q . || { cat "$STATE/hosts/h$k/sshd.log" >&2; die "sshd h$k did not start"; }
done
ssh -F "$CFG" "$NET.1" true || die "plain ssh to $NET.1 failed: the lab is broken"

# --- per-N inventories -----------------------------------------------------------
for n in $NS; do
    {
        echo "all:"
        echo "  children:"
        echo "    bench:"
        echo "      vars:"
        echo "        ansible_user: root"
        echo "        ansible_python_interpreter: /usr/bin/python3"
        echo "        sparklink_ssh_config: $CFG"
        echo "      hosts:"
        for k in $(seq 1 "$n"); do
            echo "        h$k:"
            echo "          ansible_host: $NET.$k"
        done
    } >"$STATE/inventory-$n.yml"
    {
        echo "# pyinfra inventory: the same hosts, key, ssh_config and known_hosts"
        echo "bench = ("
        echo "    ["
        for k in $(seq 1 "$n"); do echo "        (\"h$k\", {\"ssh_hostname\": \"$NET.$k\"}),"; done
        echo "    ],"
        echo "    {"
        echo "        \"ssh_user\": \"root\","
        echo "        \"ssh_key\": \"$STATE/client_key\","
        echo "        \"ssh_config_file\": \"$CFG\","
        echo "        \"ssh_known_hosts_file\": \"$STATE/known_hosts\","
        echo "        \"ssh_strict_host_key_checking\": \"yes\","
        echo "        \"ssh_allow_agent\": False,"
        echo "        \"ssh_look_for_keys\": False,"
        echo "    },"
        echo ")"
    } >"$STATE/inventory_$n.py"
done

# ansible: its fastest documented settings for this job: pipelining, forks=N,
# ControlMaster=auto + ControlPersist (ansible's own multiplexing), no fact
# gathering, the interpreter given (no discovery), no compression on loopback.
mkdir -p "$STATE/ansible-home"
cat >"$STATE/ansible.cfg" <<EOF
[defaults]
home = $STATE/ansible-home
local_tmp = $STATE/ansible-home/tmp
host_key_checking = True
gathering = explicit
interpreter_python = /usr/bin/python3
retry_files_enabled = False
strategy = linear
[ssh_connection]
pipelining = True
ssh_args = -F $CFG -o ControlMaster=auto -o ControlPersist=60s
EOF

# BENCH_EXEC: run this command in the lab instead of the benchmark (profiling).
if [ -n "${BENCH_EXEC:-}" ]; then
    RUN_PID=$$
    export STATE CFG BIN NET VENV HERE SRV_CG RUN_PID
    export ANSIBLE_CONFIG=$STATE/ansible.cfg
    (cd "$STATE" && bash -c "$BENCH_EXEC")
    exit $?
fi

# --- one measured run ----------------------------------------------------------------
RESULTS=$STATE/results.jsonl
WARMUP=$STATE/warmup.jsonl
addresses() { for k in $(seq 1 "$1"); do printf '%s.%s ' "$NET" "$k"; done; }

tool_cmd() { # tool n rundir -> the command, one word a line
    local tool=$1 n=$2 dir=$3
    case $tool in
        floor) printf '%s\n' bash "$HERE/floor.sh" "$CFG" "$dir" $(addresses "$n") ;;
        mux) printf '%s\n' bash "$HERE/floor_mux.sh" "$CFG" "$dir" $(addresses "$n") ;;
        sparklink) printf '%s\n' "$BIN" run "$HERE/job.yml" -i "$STATE/inventory-$n.yml" --json --forks "$n" ;;
        sparklink-default) printf '%s\n' "$BIN" run "$HERE/job.yml" -i "$STATE/inventory-$n.yml" --json ;;
        ansible) printf '%s\n' env "ANSIBLE_CONFIG=$STATE/ansible.cfg" "ANSIBLE_SSH_CONTROL_PATH_DIR=$dir/cp" \
            "$VENV/bin/ansible-playbook" -i "$STATE/inventory-$n.yml" -f "$n" "$HERE/job.yml" ;;
        pyinfra) printf '%s\n' "$VENV/bin/pyinfra" -y --parallel "$n" \
            "$STATE/inventory_$n.py" "$HERE/job_pyinfra.py" ;;
    esac
}

label_of() {
    case $1 in
        floor) echo "openssh (floor)" ;;
        mux) echo "openssh mux, 4 tasks (ref)" ;;
        sparklink) echo "sparklink --forks N" ;;
        sparklink-default) echo "sparklink (default forks)" ;;
        ansible) echo "ansible-playbook" ;;
        pyinfra) echo "pyinfra" ;;
    esac
}

# Did the run really do the job on every host? Prints why not.
check_output() { # tool n rundir
    local tool=$1 n=$2 dir=$3
    case $tool in
        floor | mux)
            local bad=0
            for a in $(addresses "$n"); do
                { [ "$(grep -c . "$dir/$a")" -ge 4 ] && grep -q "inet 127.0.0.1/8" "$dir/$a"; } || bad=$((bad + 1))
            done
            [ "$bad" = 0 ] || { echo "$bad hosts without the four outputs"; return 1; } ;;
        sparklink | sparklink-default)
            python3 "$HERE/measure.py" check-sparklink "$dir/stdout" "$n" ;;
        ansible)
            local ok
            ok=$(grep -cE ': ok=4 +changed=0 +unreachable=0 +failed=0' "$dir/stdout" || true)
            [ "$ok" = "$n" ] || { echo "recap: $ok of $n hosts ok=4"; tail -5 "$dir/stdout"; return 1; } ;;
        pyinfra)
            # pyinfra prints its results table on stderr.
            grep -qE "Grand total +$((4 * n)) +$((4 * n)) +- " "$dir/stderr" \
                || { echo "pyinfra results table:"; tail -8 "$dir/stderr"; return 1; } ;;
    esac
}

# Other people's work on the same 2 CPUs is the main noise: a run during which
# the rest of the machine was busy more than 10% of the time (other_cpu_s) is
# run again, up to 3 attempts in all, and the quietest attempt kept. Only runs
# under 5 s are retried (ansible's are not: its ratio is far from any target).
noisy() { # result.json -> success if noisy and worth retrying
    python3 -c 'import json, os, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["wall_s"] < 5 and (r["other_cpu_s"] or 0) > 0.1 * os.cpu_count() * r["wall_s"] else 1)' "$1"
}

measure() { # tool n rep outfile
    local tool=$1 n=$2 rep=$3 out=$4
    local best= attempt dir
    for attempt in 1 2 3; do
        dir=$STATE/runs/$tool-$n-$rep-a$attempt
        mkdir -p "$dir"
        local -a cmd
        mapfile -t cmd < <(tool_cmd "$tool" "$n" "$dir")
        (cd "$STATE" && python3 "$HERE/measure.py" run --out "$dir/result.json" --label "$(label_of "$tool")" \
            --n "$n" --rep "$rep" --stdout "$dir/stdout" --stderr "$dir/stderr" --timeout 120 --quiet-wait 2 \
            --cgroup-prefix "slbench-run$$-" \
            ${SRV_CG:+--server-cgroup "$SRV_CG"} -- "${cmd[@]}" >/dev/null)
        local why
        if ! why=$(check_output "$tool" "$n" "$dir" 2>&1); then
            say "!! $tool N=$n rep $rep: bad output: $why"
            say "   stderr: $(tail -3 "$dir/stderr")"
            python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["rc"]="bad output"; print(json.dumps(r))' \
                "$dir/result.json" >>"$out"
            return
        fi
        if [ -z "$best" ] || python3 -c 'import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit(0 if a["other_cpu_s"] < b["other_cpu_s"] else 1)' "$dir/result.json" "$best"; then
            best=$dir/result.json
        fi
        noisy "$dir/result.json" || break
    done
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["attempts"]=int(sys.argv[2]); print(json.dumps(r))' \
        "$best" "$attempt" >>"$out"
}

ACTIVE=()
for t in $TOOLS; do
    case $t in
        ansible | pyinfra) [ "$HAVE_PY" = 1 ] || { say "-- $t not installed: row skipped"; continue; } ;;
    esac
    ACTIVE+=("$t")
done

say "== load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; tools: ${ACTIVE[*]}; $REPEATS repeats + 1 warm-up"
# Which sparklink: HEAD, and a hash of the uncommitted changes to src/ if any.
SRC_STATE=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! (cd "$REPO" && git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null); then
    SRC_STATE="$SRC_STATE + uncommitted changes to src/ (diff sha1 $(cd "$REPO" && git diff HEAD -- src Cargo.toml Cargo.lock | sha1sum | cut -c1-10))"
fi
[ -n "${BENCH_BIN:-}" ] && SRC_STATE="$BENCH_BIN (BENCH_BIN)"
say "   sparklink: $SRC_STATE"
[ "$HAVE_PY" = 1 ] && say "   $("$VENV/bin/ansible-playbook" --version | head -1); pyinfra $("$VENV/bin/pip" show pyinfra 2>/dev/null | sed -n 's/^Version: //p'); $(ssh -V 2>&1)"
START=$SECONDS
for n in $NS; do
    for t in "${ACTIVE[@]}"; do
        # sparklink's default is --forks 16: a separate row only where it differs.
        [ "$t" = sparklink-default ] && [ "$n" -le 16 ] && continue
        measure "$t" "$n" 0 "$WARMUP"
    done
    for rep in $(seq 1 "$REPEATS"); do
        # Rotate the order each repeat so no tool always runs first or last.
        m=${#ACTIVE[@]}
        for i in $(seq 0 $((m - 1))); do
            t=${ACTIVE[$(((i + rep) % m))]}
            [ "$t" = sparklink-default ] && [ "$n" -le 16 ] && continue
            measure "$t" "$n" "$rep" "$RESULTS"
        done
    done
    say "   N=$n done ($((SECONDS - START)) s)"
done

say "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "median of $REPEATS runs per row (after 1 warm-up); wall = exec to exit; peak RSS = largest"
echo "sum of VmRSS over every process of the run's cgroup (tool, workers, ssh), sampled every 10 ms"
echo
python3 "$HERE/measure.py" summarize "$RESULTS" | tee "$STATE/table.txt"
mkdir -p "$HERE/results"
cp "$RESULTS" "$HERE/results/latest.jsonl"
cp "$STATE/table.txt" "$HERE/results/latest.txt"

# Where sparklink's time over the floor goes, at the largest N.
if [ "${BENCH_PROFILE:-1}" = 1 ]; then
    echo
    RUN_PID=$$
    export STATE CFG BIN NET HERE SRV_CG RUN_PID
    bash "$HERE/profile.sh" "$MAXN" "$REPEATS" | tee "$HERE/results/profile.txt"
fi
