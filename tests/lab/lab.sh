#!/usr/bin/env bash
# tests/lab/lab.sh - two simulated DGX Sparks on this machine, for sparklink's tests.
#
# The root network namespace plays the laptop. Each Spark is a set of namespaces
# (network "slab-spark-N" + its own UTS, mount and PID namespaces) with its own sshd,
# real netplan and a simulated network backend; the QSFP cables are bridges in the
# namespace "slab-wire". See tests/lab/README.md.
#
# usage: lab.sh up | down | reset | status
#        lab.sh exec NODE [--user USER] -- CMD...
#        lab.sh cable none | P1 P2 [P3 P4]
#        lab.sh sshd NODE stop|start       lab.sh mgmt NODE cut|restore
#        lab.sh sudo-password on|off       lab.sh sudo-tty on|off
#        lab.sh netplan-dir NODE normal|readonly|full
#        lab.sh snapshot NODE
# NODE is spark-1 or spark-2. Everything this script creates is named slab*.
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly SRC_DIR
STATE=${SPARKLINK_LAB_DIR:-/run/sparklink-lab}
STATE=${STATE%/}
readonly STATE
# lock held by the Rust harness (tests/lab/mod.rs) for the duration of each lab test
readonly TEST_LOCK=$STATE.lock
readonly PASSWORD=${SPARKLINK_LAB_PASSWORD:-spark-lab-pw}
readonly LL_DELAY=${SPARKLINK_LAB_LL_DELAY:-1.0}
readonly WIRE_NS=slab-wire
readonly BRIDGE=slab-br0
readonly MGMT_IF=enP7s7
readonly MGMT_NET=198.18.0
readonly NODE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly SOURCES=(lab.sh node-init.sh netplan-sim networkd-sim node-helper ibdev2netdev
	01-network-manager-all.yaml)
readonly MARKER=.sparklink-lab

die() {
	printf 'lab.sh: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '9,15p' "$SRC_DIR/lab.sh" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# ------------------------------------------------------------------ naming helpers

node_index() {
	case ${1:-} in
	spark-1) echo 1 ;;
	spark-2) echo 2 ;;
	*) die "unknown node '${1:-}' (expected spark-1 or spark-2)" ;;
	esac
}

# QSFP netdev name for rail (a = enp1s0..., b = enP2p1s0...) and port (0|1)
qsfp_if() {
	if [[ $1 == a ]]; then printf 'enp1s0f%snp%s' "$2" "$2"; else printf 'enP2p1s0f%snp%s' "$2" "$2"; fi
}

# MAC: 02:5b:<role>:0<node>:<rail>:<port>; role 00 = node end, 10 = wire end
qsfp_mac() { # role node rail port
	local r=01
	[[ $3 == b ]] && r=02
	printf '02:5b:%s:0%s:%s:0%s' "$1" "$2" "$r" "$4"
}

need_root() {
	[[ $EUID -eq 0 ]] || die "must run as root"
}

need_tools() {
	local t missing=()
	for t in ip nsenter unshare setsid pivot_root sshd ssh-keygen openssl flock sysctl \
		python3 sudo setpriv; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[[ -x /usr/bin/python3 ]] || missing+=(/usr/bin/python3)
	[[ -x /usr/lib/netplan/generate && -f /usr/share/netplan/netplan/cli/core.py ]] ||
		missing+=(netplan.io)
	((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}"
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
		die "the kernel has no overlay filesystem"
}

# serialize state-changing commands (fd 9 is closed in every child we leave running)
take_lock() {
	exec 9<"$SRC_DIR/lab.sh"
	flock -w 300 9 || die "timed out waiting for another lab.sh"
}

netns_exists() { [[ -e /run/netns/$1 ]]; }

# inode of a network namespace, for recognising our processes
netns_inode() { stat -L -c %i "/run/netns/$1" 2>/dev/null || true; }

lab_is_up() { [[ -f $STATE/lab.env ]]; }
need_up() { lab_is_up || die "the lab is not up (run: lab.sh up)"; }

sources_hash() {
	(
		cd "$SRC_DIR"
		cat "${SOURCES[@]}"
		printf '%s\n' "$PASSWORD" "$LL_DELAY" "$STATE"
	) | sha256sum | cut -d' ' -f1
}

# host PID of a node's init, if it is alive and belongs to the node's netns
init_pid_of() {
	local i=$1 pid
	pid=$(cat "$STATE/spark-$i/init.pid" 2>/dev/null) || return 1
	[[ -n $pid && -d /proc/$pid ]] || return 1
	[[ $(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) == "$(netns_inode "slab-spark-$i")" ]] || return 1
	echo "$pid"
}

init_pid() {
	local i=$1 pid
	need_up
	pid=$(init_pid_of "$i") || die "spark-$i is not running (run: lab.sh reset)"
	[[ -e /proc/$pid/root/run/slab/ready ]] || die "spark-$i is not ready (run: lab.sh reset)"
	echo "$pid"
}

# close every file descriptor above 2 (call in a subshell): nothing we start inside a node
# may keep a descriptor of the caller (e.g. the lock fd of `flock FILE lab.sh ...`)
close_extra_fds() {
	local fd
	for fd in /proc/"$BASHPID"/fd/*; do
		fd=${fd##*/}
		if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
	done
}

# run a command as root inside node i, in all its namespaces, with a clean environment
in_node() {
	local i=$1 pid
	shift
	pid=$(init_pid "$i")
	(
		close_extra_fds
		exec nsenter -t "$pid" -a -r -w \
			env -i PATH="$NODE_PATH" HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
			LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
	)
}

# ------------------------------------------------------------------ building blocks

make_base() {
	local i uid hash today
	mkdir -p "$STATE"
	chmod 0700 "$STATE"
	: >"$STATE/$MARKER"
	mkdir -m 0700 "$STATE/lib" "$STATE/etc"
	(cd "$SRC_DIR" && cp "${SOURCES[@]}" "$STATE/lib/")
	chmod 0755 "$STATE/lib"/*

	# /run/netns: remember whether it existed / was a mount point before us
	{
		[[ -d /run/netns ]] && echo "netns_dir_preexisting=1" || echo "netns_dir_preexisting=0"
		mountpoint -q /run/netns && echo "netns_mount_preexisting=1" || echo "netns_mount_preexisting=0"
	} >"$STATE/host.env"

	# keys: the laptop's, and ed25519 + rsa host keys per node (generated in parallel)
	ssh-keygen -q -t ed25519 -N '' -C 'sparklink-lab-laptop' -f "$STATE/laptop_key" &
	for i in 1 2; do
		mkdir -p "$STATE/spark-$i/ssh" "$STATE/spark-$i/root" "$STATE/spark-$i/rw"
		ssh-keygen -q -t ed25519 -N '' -C "root@spark-$i" -f "$STATE/spark-$i/ssh/ssh_host_ed25519_key" &
		ssh-keygen -q -t rsa -b 3072 -N '' -C "root@spark-$i" -f "$STATE/spark-$i/ssh/ssh_host_rsa_key" &
		write_sshd_config >"$STATE/spark-$i/ssh/sshd_config"
	done

	# the nvidia account exists only inside the nodes (node-local /etc/passwd, shadow,
	# group, gshadow = host's + nvidia); same uid on both nodes; host files untouched
	uid=1000
	while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
	hash=$(printf '%s' "$PASSWORD" | openssl passwd -6 -stdin)
	today=$(($(date +%s) / 86400))
	grep -v '^nvidia:' /etc/passwd >"$STATE/etc/passwd" || true
	grep -v '^nvidia:' /etc/group >"$STATE/etc/group" || true
	grep -v '^nvidia:' /etc/shadow >"$STATE/etc/shadow" || true
	grep -v '^nvidia:' /etc/gshadow >"$STATE/etc/gshadow" || true
	echo "nvidia:x:$uid:$uid:NVIDIA,,,:/home/nvidia:/bin/bash" >>"$STATE/etc/passwd"
	echo "nvidia:x:$uid:" >>"$STATE/etc/group"
	echo "nvidia:$hash:$today:0:99999:7:::" >>"$STATE/etc/shadow"
	echo "nvidia:!::" >>"$STATE/etc/gshadow"
	wait

	# laptop side: known_hosts + ssh_config usable with `ssh -F`
	for i in 1 2; do
		local ip=$MGMT_NET.1$i k
		for k in ed25519 rsa; do
			printf '%s %s\n' "$ip" "$(cut -d' ' -f1-2 "$STATE/spark-$i/ssh/ssh_host_${k}_key.pub")"
		done
	done >"$STATE/known_hosts"
	cat >"$STATE/ssh_config" <<EOF
# sparklink lab: the laptop's view of the two simulated Sparks (generated by lab.sh up)
Host spark-1
  HostName $MGMT_NET.11
Host spark-2
  HostName $MGMT_NET.12
Host spark-1 spark-2 $MGMT_NET.*
  User nvidia
  IdentityFile $STATE/laptop_key
  IdentitiesOnly yes
  UserKnownHostsFile $STATE/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  ConnectTimeout 5
EOF
	chmod 0644 "$STATE/ssh_config" "$STATE/known_hosts"

	# management bridge (the laptop's LAN) and the cable namespace
	if ip -4 -o addr show | grep -v " $BRIDGE " | grep -q " inet $MGMT_NET\."; then
		die "$MGMT_NET.0/24 is already in use on this machine"
	fi
	ip link add "$BRIDGE" address 02:5b:01:00:00:01 type bridge stp_state 0 forward_delay 0
	sysctl -q -w "net.ipv6.conf.$BRIDGE.disable_ipv6=1"
	ip addr add "$MGMT_NET.1/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	ip netns add "$WIRE_NS"
	ip netns exec "$WIRE_NS" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$WIRE_NS" link set lo up
	echo "1 1" >"$STATE/cable"
}

write_sshd_config() {
	cat <<'EOF'
# sshd of a simulated Spark (sparklink lab)
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_rsa_key
PidFile /run/sshd.pid
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers nvidia
UsePAM yes
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
}

# an ifindex free in the root namespace (>= $1)
free_root_index() {
	local idx=$1
	while [[ -n $(ip -o link show | awk -F': ' -v x="$idx" '$1 == x') ]]; do idx=$((idx + 10)); done
	echo "$idx"
}

# network namespace of node i with its management NIC and its four QSFP netdevs.
# Both ends of every veth get the same ifindex (each end is in its own namespace): the kernel
# then reports them like physical NICs (no "@ifN" peer suffix, operstate DOWN without carrier).
make_node_net() {
	local i=$1 ns=slab-spark-$1 r p ifc idx
	ip netns add "$ns"
	ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	idx=$(free_root_index $((100 + i)))
	ip link add "slab-m$i" index "$idx" address "02:5b:01:0$i:07:07" type veth \
		peer name "$MGMT_IF" index "$idx" address "02:5b:00:0$i:07:07" netns "$ns"
	sysctl -q -w "net.ipv6.conf.slab-m$i.disable_ipv6=1"
	ip link set "slab-m$i" master "$BRIDGE" up
	{
		echo "link set lo up"
		echo "addr add $MGMT_NET.1$i/24 dev $MGMT_IF"
		echo "link set $MGMT_IF up"
	} | ip -n "$ns" -batch -
	for r in a b; do
		for p in 0 1; do
			ifc=$(qsfp_if "$r" "$p")
			idx=$((10 * i + p + 1))
			[[ $r == b ]] && idx=$((idx + 2))
			ip -n "$WIRE_NS" link add "slab-w$i$r$p" index "$idx" address "$(qsfp_mac 10 "$i" "$r" "$p")" \
				mtu 9216 type veth peer name "$ifc" index "$idx" address "$(qsfp_mac 00 "$i" "$r" "$p")" netns "$ns"
			ip -n "$ns" link set "$ifc" up
		done
	done
}

del_node_net() {
	local i=$1 r p
	ip link del "slab-m$i" 2>/dev/null || true
	if netns_exists "$WIRE_NS"; then
		for r in a b; do
			for p in 0 1; do
				ip -n "$WIRE_NS" link del "slab-w$i$r$p" 2>/dev/null || true
			done
		done
	fi
	if netns_exists "slab-spark-$i"; then
		ip netns del "slab-spark-$i"
	fi
}

# kill every process of node i: its init (and so its whole PID namespace), the unshare
# parent, and anything else still inside the node's network namespace
kill_node() {
	local i=$1 d=$STATE/spark-$1 pid ino n f
	ino=$(netns_inode "slab-spark-$i")
	for f in "$d/init.pid" "$d/unshare.pid"; do
		pid=$(cat "$f" 2>/dev/null) || continue
		if [[ -n $ino && $(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) == "$ino" ]]; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	[[ -n $ino ]] || return 0
	for n in $(seq 150); do
		local left=()
		for pid in /proc/[0-9]*; do
			[[ $(stat -L -c %i "$pid/ns/net" 2>/dev/null) == "$ino" ]] || continue
			[[ $(awk '{print $3}' "$pid/stat" 2>/dev/null) == Z ]] && continue
			left+=("${pid#/proc/}")
		done
		((${#left[@]} == 0)) && break
		if ((n % 10 == 1)); then kill -KILL "${left[@]}" 2>/dev/null || true; fi
		sleep 0.02
	done
	rm -f "$d/init.pid" "$d/unshare.pid"
}

# start node i (PID 1 = node-init.sh) and wait until it is ready
boot_node() {
	local i=$1 d=$STATE/spark-$1 upid child="" n
	(
		close_extra_fds
		exec env -i PATH="$NODE_PATH" LANG=C.UTF-8 SPARKLINK_LAB_LL_DELAY="$LL_DELAY" \
			setsid ip netns exec "slab-spark-$i" \
			unshare --uts --mount --pid --fork --mount-proc --propagation private \
			/bin/bash "$STATE/lib/node-init.sh" "$i" "$STATE" </dev/null >"$d/init.log" 2>&1
	) &
	upid=$!
	echo "$upid" >"$d/unshare.pid"
	for n in $(seq 500); do
		if [[ -z $child ]]; then
			child=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null || true)
			child=${child%% *}
			[[ -n $child ]] && echo "$child" >"$d/init.pid"
		fi
		[[ -n $child && -e /proc/$child/root/run/slab/ready ]] && return 0
		if ! kill -0 "$upid" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$upid/stat" 2>/dev/null) == Z ]]; then
			break
		fi
		sleep 0.01
	done
	die "spark-$i failed to boot: $(tail -n 5 "$d/init.log" 2>/dev/null | tr '\n' ' ')"
}

# ------------------------------------------------------------------ subcommands

healthy() {
	local i pid
	lab_is_up || return 1
	[[ $(cat "$STATE/sources.sha256" 2>/dev/null) == "$(sources_hash)" ]] || return 1
	ip link show "$BRIDGE" >/dev/null 2>&1 || return 1
	netns_exists "$WIRE_NS" || return 1
	for i in 1 2; do
		netns_exists "slab-spark-$i" || return 1
		pid=$(init_pid_of "$i") || return 1
		[[ -e /proc/$pid/root/run/slab/ready ]] || return 1
	done
}

cmd_up() {
	need_root
	take_lock
	if healthy; then
		return 0
	fi
	need_tools
	if [[ -e $STATE ]] || netns_exists "$WIRE_NS" || ip link show "$BRIDGE" >/dev/null 2>&1; then
		teardown
	fi
	make_base
	local i pids=() rc=0
	for i in 1 2; do
		make_node_net "$i"
	done
	for i in 1 2; do
		boot_node "$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	((rc == 0)) || die "boot failed (see $STATE/spark-*/init.log)"
	apply_cable 1 1
	sources_hash >"$STATE/sources.sha256"
	{
		echo "created=$(date -u +%FT%TZ)"
		echo "uid=$(awk -F: '$1 == "nvidia" { print $3 }' "$STATE/etc/passwd")"
	} >"$STATE/lab.env"
	echo "sudo_password=on" >"$STATE/faults"
	echo "sudo_tty=off" >>"$STATE/faults"
}

teardown() {
	local i
	for i in 1 2; do
		kill_node "$i"
		del_node_net "$i"
	done
	ip link del "$BRIDGE" 2>/dev/null || true
	if netns_exists "$WIRE_NS"; then ip netns del "$WIRE_NS"; fi
	# /run/netns: undo what `ip netns add` created, if we were the ones who created it
	if [[ -f $STATE/host.env ]]; then
		# shellcheck disable=SC1091
		. "$STATE/host.env"
		if [[ ${netns_mount_preexisting:-1} == 0 ]] && mountpoint -q /run/netns &&
			[[ -z $(ls -A /run/netns) ]]; then
			umount /run/netns 2>/dev/null || true
		fi
		if [[ ${netns_dir_preexisting:-1} == 0 && -d /run/netns && -z $(ls -A /run/netns) ]] &&
			! mountpoint -q /run/netns; then
			rmdir /run/netns 2>/dev/null || true
		fi
	fi
	if [[ -e $STATE ]]; then
		[[ -e $STATE/$MARKER ]] || die "$STATE exists but was not created by lab.sh; not removing it"
		if findmnt -rn -o TARGET | grep -q "^$STATE"; then
			die "something is still mounted under $STATE"
		fi
		rm -rf "$STATE"
	fi
}

cmd_down() {
	need_root
	# wait for the lab test in progress, if any (the harness holds $TEST_LOCK during a test)
	exec 8>>"$TEST_LOCK"
	flock -w 600 8 || die "a lab test has held $TEST_LOCK for 10 minutes; not tearing down under it"
	take_lock
	teardown
	rm -f "$TEST_LOCK"
}

cmd_reset() {
	need_root
	take_lock
	need_up
	if ! netns_exists "$WIRE_NS" || ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		die "the lab is broken (run: lab.sh down && lab.sh up)"
	fi
	local i pids=() rc=0
	for i in 1 2; do
		(
			kill_node "$i"
			del_node_net "$i"
			make_node_net "$i"
			boot_node "$i"
		) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	((rc == 0)) || die "reset failed (see $STATE/spark-*/init.log)"
	apply_cable 1 1
	printf 'sudo_password=on\nsudo_tty=off\n' >"$STATE/faults"
}

# cable: pairs (p1 p2) of ports joined; everything else unplugged
apply_cable() {
	local -a ports=("$@")
	local k r p q cmds="" seen1=" " seen2=" "
	for r in a b; do
		for p in 0 1; do
			for i in 1 2; do
				cmds+="link set slab-w$i$r$p down nomaster"$'\n'
			done
		done
	done
	for k in 1 2; do
		for r in a b; do
			ip -n "$WIRE_NS" link show "slab-c$k$r" >/dev/null 2>&1 && cmds+="link del slab-c$k$r"$'\n'
		done
	done
	for ((k = 0; k < ${#ports[@]}; k += 2)); do
		p=${ports[k]} q=${ports[k + 1]}
		[[ $seen1 != *" $p "* && $seen2 != *" $q "* ]] || die "a port can take only one cable"
		seen1+="$p " seen2+="$q "
		for r in a b; do
			local br=slab-c$((k / 2 + 1))$r
			cmds+="link add $br type bridge stp_state 0 forward_delay 0 mcast_snooping 0"$'\n'
			cmds+="link set slab-w1$r$p master $br"$'\n'
			cmds+="link set slab-w2$r$q master $br"$'\n'
			cmds+="link set $br up"$'\n'
			cmds+="link set slab-w1$r$p up"$'\n'
			cmds+="link set slab-w2$r$q up"$'\n'
		done
	done
	printf '%s' "$cmds" | ip -n "$WIRE_NS" -batch -
	echo "${ports[*]:-none}" >"$STATE/cable"
}

cmd_cable() {
	need_root
	[[ $# -ge 1 ]] || usage
	local a
	if [[ $1 == none && $# -eq 1 ]]; then
		set --
	else
		[[ $# -eq 2 || $# -eq 4 ]] || die "cable: expected 'none', 'P1 P2' or 'P1 P2 P3 P4'"
		for a in "$@"; do
			[[ $a == 0 || $a == 1 ]] || die "cable: port '$a' is not 0 or 1"
		done
	fi
	take_lock
	need_up
	apply_cable "$@"
}

cmd_exec() {
	local node=${1:-} i user=root
	[[ -n $node ]] || usage
	i=$(node_index "$node")
	shift
	while [[ $# -gt 0 ]]; do
		case $1 in
		--user)
			[[ $# -ge 2 ]] || die "exec: --user needs a value"
			user=$2
			shift 2
			;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	[[ $# -ge 1 ]] || die "exec: no command given"
	if [[ $user == root ]]; then
		in_node "$i" "$@"
	else
		# shellcheck disable=SC2016
		in_node "$i" /bin/sh -c '
			u=$1; shift
			gid=$(id -g "$u") || exit 125
			home=$(getent passwd "$u" | cut -d: -f6)
			cd "${home:-/}" 2>/dev/null || cd /
			exec setpriv --reuid="$u" --regid="$gid" --init-groups \
				env HOME="${home:-/}" USER="$u" LOGNAME="$u" "$@"' slab-exec "$user" "$@"
	fi
}

cmd_sshd() {
	need_root
	local i
	i=$(node_index "${1:-}")
	case ${2:-} in
	stop)
		# shellcheck disable=SC2016
		in_node "$i" /bin/sh -c '
			pid=$(cat /run/sshd.pid 2>/dev/null) || exit 0
			kill "$pid" 2>/dev/null || exit 0
			for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
			rm -f /run/sshd.pid'
		;;
	start)
		# shellcheck disable=SC2016
		in_node "$i" /bin/sh -c '
			pid=$(cat /run/sshd.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null && exit 0
			/usr/sbin/sshd'
		;;
	*) die "sshd: expected 'sshd NODE stop|start'" ;;
	esac
}

cmd_mgmt() {
	need_root
	local i
	i=$(node_index "${1:-}")
	need_up
	case ${2:-} in
	cut) ip link set "slab-m$i" down ;;
	restore) ip link set "slab-m$i" up ;;
	*) die "mgmt: expected 'mgmt NODE cut|restore'" ;;
	esac
}

set_fault() { # key value
	local f=$STATE/faults
	grep -v "^$1=" "$f" 2>/dev/null >"$f.new" || true
	echo "$1=$2" >>"$f.new"
	mv "$f.new" "$f"
}

cmd_sudo_password() {
	need_root
	local rule i
	case ${1:-} in
	on) rule='nvidia ALL=(ALL:ALL) ALL' ;;
	off) rule='nvidia ALL=(ALL:ALL) NOPASSWD: ALL' ;;
	*) die "sudo-password: expected on|off" ;;
	esac
	take_lock
	for i in 1 2; do
		# shellcheck disable=SC2016
		in_node "$i" /bin/sh -c 'printf "%s\n" "$1" >/etc/sudoers.d/nvidia.new &&
			chmod 0440 /etc/sudoers.d/nvidia.new && mv /etc/sudoers.d/nvidia.new /etc/sudoers.d/nvidia &&
			rm -rf /run/sudo/ts' slab "$rule"
	done
	set_fault sudo_password "$1"
}

cmd_sudo_tty() {
	need_root
	local i
	case ${1:-} in on | off) ;; *) die "sudo-tty: expected on|off" ;; esac
	take_lock
	for i in 1 2; do
		if [[ $1 == on ]]; then
			in_node "$i" /bin/sh -c 'printf "Defaults:nvidia requiretty\n" >/etc/sudoers.d/requiretty &&
				chmod 0440 /etc/sudoers.d/requiretty'
		else
			in_node "$i" rm -f /etc/sudoers.d/requiretty
		fi
	done
	set_fault sudo_tty "$1"
}

cmd_netplan_dir() {
	need_root
	local i
	i=$(node_index "${1:-}")
	case ${2:-} in normal | readonly | full) ;; *) die "netplan-dir: expected normal|readonly|full" ;; esac
	# shellcheck disable=SC2016
	in_node "$i" /bin/sh -ec '
		while mountpoint -q /etc/netplan; do umount /etc/netplan; done
		case $1 in
		readonly)
			mount --bind /etc/netplan /etc/netplan
			mount -o remount,bind,ro /etc/netplan ;;
		full)
			# a tmpfs holding the current files and nothing more: no free block, no free inode
			save=$(mktemp -d /run/slab/netplan-full.XXXXXX)
			cp -a /etc/netplan/. "$save/"
			n=$(find "$save" | wc -l)
			b=$(du -s --block-size=4096 "$save" | cut -f1)
			mount -t tmpfs -o "size=$((b * 4096)),nr_inodes=$n,mode=0755" slab-netplan-full /etc/netplan
			cp -a "$save/." /etc/netplan/
			rm -rf "$save"
			# use any block still free
			dd if=/dev/zero of=/etc/netplan/.slab-fill bs=4096 2>/dev/null || true
			rm -f /etc/netplan/.slab-fill ;;
		esac' slab "$2"
}

cmd_snapshot() {
	local i
	i=$(node_index "${1:-}")
	in_node "$i" /usr/bin/python3 /run/slab/node-helper snapshot
}

cmd_status() {
	local i pid ifc st addrs mtu sshd np
	if ! lab_is_up; then
		echo "sparklink lab: down (state dir $STATE absent)"
		return 0
	fi
	echo "sparklink lab: up (state $STATE)"
	echo "cable: $(cat "$STATE/cable" 2>/dev/null) (pairs: spark-1 port, spark-2 port)"
	echo "faults: $(tr '\n' ' ' <"$STATE/faults" 2>/dev/null)"
	for i in 1 2; do
		if ! pid=$(init_pid_of "$i") || [[ ! -e /proc/$pid/root/run/slab/ready ]]; then
			echo "spark-$i: NOT RUNNING"
			continue
		fi
		# shellcheck disable=SC2016
		sshd=$(in_node "$i" /bin/sh -c 'p=$(cat /run/sshd.pid 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo running || echo stopped')
		np=$(in_node "$i" /bin/sh -c 'findmnt -n -o FSTYPE,OPTIONS /etc/netplan 2>/dev/null | cut -c1-40 || true')
		echo "spark-$i: init pid $pid, hostname $(in_node "$i" hostname), sshd $sshd," \
			"mgmt $MGMT_NET.1$i $(ip -br link show "slab-m$i" | awk '{print $2}'), /etc/netplan ${np:-normal}"
		for ifc in enp1s0f0np0 enP2p1s0f0np0 enp1s0f1np1 enP2p1s0f1np1; do
			st=$(ip -n "slab-spark-$i" -br addr show dev "$ifc")
			mtu=$(cat "/proc/$pid/root/sys/class/net/$ifc/mtu" 2>/dev/null || echo '?')
			addrs=$(awk '{ $1=""; $2=""; print }' <<<"$st" | xargs)
			printf '  %-14s %-15s mtu %-5s %s\n' "$ifc" "$(awk '{print $2}' <<<"$st")" "$mtu" "${addrs:--}"
		done
	done
}

main() {
	local cmd=${1:-}
	[[ -n $cmd ]] || usage
	shift
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	reset) cmd_reset "$@" ;;
	status) cmd_status "$@" ;;
	exec) need_root; cmd_exec "$@" ;;
	cable) cmd_cable "$@" ;;
	sshd) cmd_sshd "$@" ;;
	mgmt) cmd_mgmt "$@" ;;
	sudo-password) cmd_sudo_password "$@" ;;
	sudo-tty) cmd_sudo_tty "$@" ;;
	netplan-dir) cmd_netplan_dir "$@" ;;
	snapshot) need_root; cmd_snapshot "$@" ;;
	-h | --help | help) usage ;;
	*) die "unknown command '$cmd' (try: lab.sh help)" ;;
	esac
}

main "$@"
