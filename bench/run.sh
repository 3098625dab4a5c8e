#!/usr/bin/env bash
# Runs one benchmark inside a network namespace of its own (only `lo`), and cleans up after it.
#
#   bash bench/run.sh rtt [--pcap] [-- args for bench/rtt.ts]    fresh verification in round trips
#   bash bench/run.sh cold [-- args for bench/cold.ts]           cold verifications per second
#   bash bench/run.sh memory [-- args for bench/memory.ts]       memory per in-flight callout
#
# Needs root, Postfix and Unbound (.ci/install-system-deps), cc, libnetfilter-queue-dev and ping
# (rtt), tcpdump (rtt --pcap). Each benchmark prints the machine and a table and writes
# bench/results/<name>.json. Everything started here is stopped by PID; the namespace, its
# iptables rule (which lives and dies with the namespace) and /etc/netns/<ns>/ are removed on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
name=${1:-}
shift || true
pcap=no
while [[ $# -gt 0 ]]; do
  case $1 in
    --pcap) pcap=yes ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
case $name in
  rtt | cold | memory) ;;
  *) echo "usage: $0 rtt|cold|memory [--pcap] [-- benchmark args]" >&2; exit 2 ;;
esac
[[ $(id -u) -eq 0 ]] || { echo "bench/run.sh: needs root (network namespaces, port 25)" >&2; exit 1; }

NS=cbv-bench-$name-$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cbv-bench-$name.XXXXXX")
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if ip netns list | grep -qw "$NS"; then
    ip netns exec "$NS" iptables -t mangle -F OUTPUT 2>/dev/null || true
    ip netns del "$NS"
  fi
  rm -rf "/etc/netns/$NS" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
# Tools that use the system resolver (the npm competitors, glibc) find the bench's Unbound here.
mkdir -p "/etc/netns/$NS"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' >"/etc/netns/$NS/resolv.conf"

if [[ $name == rtt ]]; then
  # The kernel has no netem: hold every loopback packet 25 ms in user space (NFQUEUE).
  cc -O2 -Wall -Wextra -o "$TMP/nfq-delay" "$BENCH_DIR/rtt/nfq-delay.c" -lnetfilter_queue
  ip netns exec "$NS" "$TMP/nfq-delay" 0 25 >"$TMP/nfq.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    grep -q ready "$TMP/nfq.out" && break
    sleep 0.1
  done
  grep -q ready "$TMP/nfq.out" || { echo "nfq-delay did not start:" >&2; cat "$TMP/nfq.out" >&2; exit 1; }
  # Port 2525 is exempt: bench/rtt.ts warms the engine up there, at loopback speed.
  ip netns exec "$NS" iptables -t mangle -A OUTPUT -o lo -p tcp --dport 2525 -j RETURN
  ip netns exec "$NS" iptables -t mangle -A OUTPUT -o lo -p tcp --sport 2525 -j RETURN
  ip netns exec "$NS" iptables -t mangle -A OUTPUT -o lo -j NFQUEUE --queue-num 0 --queue-bypass
  if [[ $pcap == yes ]]; then
    mkdir -p "$BENCH_DIR/results/tmp"
    ip netns exec "$NS" tcpdump -i lo --immediate-mode -n -s 200 -w "$BENCH_DIR/results/tmp/rtt.pcap" \
      'tcp port 25' 2>"$TMP/tcpdump.err" &
    tcpdump_pid=$!
    pids+=("$tcpdump_pid")
    sleep 1
  fi
fi

# memory.ts holds 10,000 sockets in one process (and its slow server as many in another): ask for
# 65536 descriptors, or as many as the hard limit allows where raising it is not permitted.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cd "$ROOT"
status=0
CBV_BENCH_NETNS=$NS ip netns exec "$NS" node --expose-gc --import tsx "bench/$name.ts" "$@" || status=$?
if [[ $pcap == yes && $status -eq 0 ]]; then
  kill -TERM "$tcpdump_pid" && wait "$tcpdump_pid" || true # flush the capture before reading it
  node --import tsx bench/rtt/hops.ts bench/results/tmp/rtt.pcap bench/results/rtt.json || status=$?
  echo "packet capture: bench/results/tmp/rtt.pcap (tcpdump -r bench/results/tmp/rtt.pcap -ttt -n)"
fi
exit $status
