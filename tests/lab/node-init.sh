#!/bin/bash
# node-init.sh N STATE - PID 1 of simulated Spark "spark-N".
#
# Started by lab.sh as:
#   ip netns exec slab-spark-N unshare --uts --mount --pid --fork --mount-proc node-init.sh N STATE
# so it already runs in the node's own network, UTS, mount and PID namespaces.
# It builds the node's root filesystem (an overlay whose lower layer is the host's "/" and
# whose upper layer is a tmpfs that lives only in this mount namespace), pivots into it,
# boots the node (netplan generate, sshd, networkd-sim) and then reaps children forever.
# Nothing it writes can reach the host: when this process dies the whole node is gone.
set -euo pipefail

N=$1
STATE=$2
NODE=$STATE/spark-$N
LIB=$STATE/lib
R=$NODE/root
RW=$NODE/rw
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'node-init[spark-%s]: %s\n' "$N" "$*"; }

hostname "spark-$N"
mount --make-rprivate /

# --- root filesystem: overlay(lower = host /, upper = tmpfs private to this node) --------
mount -t tmpfs -o mode=0755,size=1g slab-rw "$RW"
mkdir "$RW/upper" "$RW/work"
mount -t overlay slab-root -o "lowerdir=/,upperdir=$RW/upper,workdir=$RW/work" "$R"

mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"            # sysfs of the node's network namespace

# minimal private /dev with its own devpts instance
mount -t tmpfs -o mode=0755,size=1m,nosuid slab-dev "$R/dev"
for d in null zero full random urandom tty; do
	touch "$R/dev/$d"
	mount --bind "/dev/$d" "$R/dev/$d"
done
mkdir -m 0755 "$R/dev/pts"
mkdir -m 1777 "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev slab-shm "$R/dev/shm"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"

# volatile and private directories; hide host-only content (the repo, root's and users' homes)
mount -t tmpfs -o mode=0755,nosuid,nodev slab-run "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev slab-tmp "$R/tmp"
mount -t tmpfs -o mode=1777,nosuid,nodev slab-vartmp "$R/var/tmp"
mount -t tmpfs -o mode=0755,nosuid,nodev slab-home "$R/home"
mount -t tmpfs -o mode=0700 slab-roothome "$R/root"
[[ -d $R/work ]] && mount -t tmpfs -o mode=0755,ro slab-hide "$R/work"

# --- node identity ------------------------------------------------------------------------
install -m 0644 "$STATE/etc/passwd" "$R/etc/passwd"
install -m 0644 "$STATE/etc/group" "$R/etc/group"
install -m 0640 -g shadow "$STATE/etc/shadow" "$R/etc/shadow"
install -m 0640 -g shadow "$STATE/etc/gshadow" "$R/etc/gshadow"
printf 'spark-%s\n' "$N" >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tspark-%s\n' "$N" >"$R/etc/hosts"
# Ubuntu's /etc/environment (read by pam_env for SSH sessions, as on DGX OS)
printf '%s\n' 'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin"' >"$R/etc/environment"
chown root:root "$R/etc/hostname" "$R/etc/hosts" "$R/etc/environment"
chmod 0644 "$R/etc/hostname" "$R/etc/hosts" "$R/etc/environment"
rm -rf "$R/etc/sparklink"

# netplan: pristine DGX OS content, real netplan behind a simulated apply/try
rm -rf "$R/etc/netplan"
mkdir -m 0755 "$R/etc/netplan"
install -m 0600 "$LIB/01-network-manager-all.yaml" "$R/etc/netplan/01-network-manager-all.yaml"
rm -f "$R/usr/sbin/netplan"                  # host: symlink to ../share/netplan/netplan.script
install -m 0755 "$LIB/netplan-sim" "$R/usr/sbin/netplan"
install -m 0755 "$LIB/ibdev2netdev" "$R/usr/local/bin/ibdev2netdev"

# sshd with the node's own host keys
rm -f "$R"/etc/ssh/ssh_host_*
install -m 0600 "$NODE/ssh/ssh_host_ed25519_key" "$NODE/ssh/ssh_host_rsa_key" "$R/etc/ssh/"
install -m 0644 "$NODE/ssh/ssh_host_ed25519_key.pub" "$NODE/ssh/ssh_host_rsa_key.pub" "$NODE/ssh/sshd_config" "$R/etc/ssh/"

# sudo: password required (lab.sh sudo-password / sudo-tty change this at run time)
printf 'nvidia ALL=(ALL:ALL) ALL\n' >"$R/etc/sudoers.d/nvidia"
chmod 0440 "$R/etc/sudoers.d/nvidia"
rm -rf "$R/var/lib/sudo/lectured"

# home of nvidia: skeleton files + the laptop key, no key of its own
uid=$(awk -F: '$1 == "nvidia" { print $3 }' "$STATE/etc/passwd")
gid=$(awk -F: '$1 == "nvidia" { print $4 }' "$STATE/etc/passwd")
install -d -m 0750 -o "$uid" -g "$gid" "$R/home/nvidia"
cp -a /etc/skel/. "$R/home/nvidia/"
chmod 0750 "$R/home/nvidia"                  # Ubuntu 24.04's HOME_MODE
install -d -m 0700 "$R/home/nvidia/.ssh"
install -m 0600 "$STATE/laptop_key.pub" "$R/home/nvidia/.ssh/authorized_keys"
chown -R "$uid:$gid" "$R/home/nvidia"
cp -a /etc/skel/.bashrc /etc/skel/.profile "$R/root/"

# lab internals live in the node's /run/slab
install -d -m 0755 "$R/run/slab" "$R/run/sshd"
install -m 0755 "$LIB/networkd-sim" "$LIB/node-helper" "$R/run/slab/"

# --- pivot into the node's root -------------------------------------------------------------
cd "$R"
pivot_root . .
umount -l .
cd /

# boot: netplan generate (as systemd's netplan generator does at boot), sshd, networkd-sim
# On DGX OS (Ubuntu 24.04, NetworkManager's profiles stored through netplan) this directory
# exists at boot. netplan's ConfigManager only backs it up if it exists: without it, the
# revert of `netplan try` (0.106) would leave the tried NM keyfile in place.
install -d -m 0700 /run/NetworkManager/system-connections
/usr/lib/netplan/generate || log "netplan generate failed at boot"
/usr/sbin/sshd
setsid /usr/bin/python3 /run/slab/networkd-sim </dev/null >>/run/slab/networkd-sim.log 2>&1 &
for _ in $(seq 100); do
	[[ -S /run/slab/networkd-sim.sock && -s /run/sshd.pid ]] && break
	sleep 0.02
done
[[ -S /run/slab/networkd-sim.sock ]] || { log "networkd-sim did not start"; cat /run/slab/networkd-sim.log; exit 1; }
[[ -s /run/sshd.pid ]] || { log "sshd did not start"; exit 1; }
touch /run/slab/ready
log "up"

# --- reap children forever ----------------------------------------------------------------
# As PID 1 of the node, every orphan (a detached watchdog, an ssh session's
# leftovers) is ours to reap; bash does not reliably reap adopted orphans, so
# a tiny python reaper takes over PID 1.
exec /usr/bin/python3 -c '
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.5)
'

