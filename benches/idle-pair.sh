#!/bin/sh
# The idle cost of a loopback hbd pair (docs/benchmarks.md, "Idle profile"):
# two `hbd run` on 127.0.0.1/127.0.0.2, ucast on lo only, no groups, at
# KEEPALIVE/DEADTIME; after the start-up boost, the CPU time (the threads'
# run time from /proc/PID/task/TID/schedstat, as the failover bench) and the
# VmRSS of both daemons over SECS seconds.
#
#   benches/idle-pair.sh HBD [SECS] [KEEPALIVE_MS] [DEADTIME_MS] [-- WRAPPER...]
#
# With `-- strace -c -f -o FILE` (or any wrapper taking a command) node alpha
# runs under the wrapper. HBD_OPTIONS='redundancy = "off"' adds lines to both
# nodes' [hbd] table. No root, UDP on loopback only, bounded: both daemons
# are killed by PID at the end.
set -eu
HBD=$(readlink -f "$1"); shift
SECS=${1:-30}; [ $# -gt 0 ] && shift
KA=${1:-20}; [ $# -gt 0 ] && shift
DT=${1:-100}; [ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
WRAP="$*"
DIR=$(mktemp -d /tmp/hbd-idle.XXXXXX)
PORT=$((20000 + $$ % 20000))
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

node() { # name addr peer
    d="$DIR/$1"; mkdir -p "$d/state" "$d/run"
    printf 'auth 1\n1 sha1 idle-profile\n' > "$d/authkeys"; chmod 600 "$d/authkeys"
    cat > "$d/hbd.toml" <<EOF
nodes = ["alpha", "beta"]
keepalive = "${KA}ms"
deadtime = "${DT}ms"
warntime = "$((DT / 2))ms"
initdead = "4s"
udpport = $PORT
auto_failback = "off"
realtime = false

[[media]]
type = "ucast"
dev = "lo"
peer = "$3"

[auth]
authkeys = "authkeys"

[hbd]
bind = "$2"
${HBD_OPTIONS:-}
EOF
}
node alpha 127.0.0.1 127.0.0.2
node beta 127.0.0.2 127.0.0.1
start() { # name addr [wrapper]
    d="$DIR/$1"; n=$1; a=$2; shift 2
    # shellcheck disable=SC2086
    $* "$HBD" run -c "$d/hbd.toml" --node "$n" --state-dir "$d/state" \
        --run-dir "$d/run" --bind "$a" >"$d/log" 2>&1 &
    PIDS="$PIDS $!"
}
start alpha 127.0.0.1 $WRAP
start beta 127.0.0.2
# Past the start-up boost (deadtime + 2 s advertised for 5 s) and the
# negotiation (10 s with no groups to announce).
sleep 12
runtime() { # ns on a CPU of every thread of every process given (schedstat)
    cat $(for p in "$@"; do echo /proc/$p/task/*/schedstat; done) 2>/dev/null |
        awk '{ t += $1 } END { printf "%d", t }'
}
# Under a wrapper the daemon is the wrapper's child.
DPIDS=""
for p in $PIDS; do
    c=$(cat "/proc/$p/task/$p/children" 2>/dev/null | awk '{print $1}')
    DPIDS="$DPIDS ${c:-$p}"
done
# shellcheck disable=SC2086
before=$(runtime $DPIDS)
sleep "$SECS"
# shellcheck disable=SC2086
after=$(runtime $DPIDS)
rss=""
for p in $DPIDS; do rss="$rss $(awk '/VmRSS/ {print $2}' "/proc/$p/status")kB"; done
echo "keepalive ${KA}ms deadtime ${DT}ms, ${SECS}s, pids$DPIDS"
awk -v t=$((after - before)) -v s="$SECS" 'BEGIN {
    per = t / 1e9 / 2; printf "cpu per node: %.3f s over %d s = %.2f s/h (%.2f ms/s)\n", per, s, per * 3600 / s, per * 1000 / s }'
echo "rss:$rss"
echo "false deaths: $(cat "$DIR"/*/log | grep -c ': is dead (' || true)"
echo "logs and wrapper output: $DIR"
