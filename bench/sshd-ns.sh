#!/bin/sh
# One bench host's sshd, in a mount namespace of its own (run.sh starts it
# with `unshare --mount --propagation private`; NOT a network namespace), so
# that each host looks like a separate node to what runs on it:
#  - /run/lock is the host's own dir: sparklink holds a per-node run lock,
#    /run/lock/sparklink.lock, and N hosts on one machine would otherwise
#    share it (only one host would get it) and leave it in the real /run/lock;
#  - ~/.bashrc can be an empty file (see run.sh).
# Usage: sshd-ns.sh CGROUP|"" HOSTDIR EMPTY_BASHRC|"" BASHRC SSHD ARGS...
# Everything execs in place, so the pid run.sh records is sshd's.
set -eu
cg=$1 hostdir=$2 empty=$3 bashrc=$4
shift 4
if [ -n "$cg" ]; then echo $$ >"$cg/cgroup.procs"; fi
mkdir -p "$hostdir/run-lock"
chmod 1777 "$hostdir/run-lock"
if [ -d /run/lock ]; then mount --bind "$hostdir/run-lock" /run/lock; fi
if [ -n "$empty" ]; then mount --bind "$empty" "$bashrc"; fi
exec "$@"
