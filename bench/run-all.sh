#!/usr/bin/env bash
# All five measurements of bench/README.md in one run, one after the other on a quiet machine.
#   sudo bash bench/run-all.sh            (about 25 minutes on 2 cores; the cache fill is most of it)
# Results land in bench/results/*.json and the tables on stdout; the log of the run in
# bench/results/run-all.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $(id -u) -eq 0 ]] || { echo "bench/run-all.sh: needs root (network namespaces, port 25)" >&2; exit 1; }
exec > >(tee bench/results/run-all.log) 2>&1

npm run build --silent
(cd bench && npm install --no-audit --no-fund --silent)
echo "== $(date -u +%FT%TZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

echo "== 1. policy decisions per second on cache hits, cbv against postgrey"
taskset -c 1 node --import tsx bench/policy-throughput.ts --runs 5 --seconds 4 --json bench/results/policy-throughput.json
echo "== 2. latency of a fresh verification in round trips"
bash bench/run.sh rtt
echo "== 3. cold verifications per second"
bash bench/run.sh cold
echo "== 4. memory per in-flight callout"
bash bench/run.sh memory
echo "== 5. cache scale: 10 million entries"
node --import tsx bench/cache-bench.ts --entries 10000000 --lookups 200000 --json | tee bench/results/cache.json
echo "== 6. fleet mode: hits per second with Redis, bytes per entry, callouts of a fleet"
taskset -c 1 node --import tsx bench/fleet-bench.ts --runs 3 --seconds 3 --json bench/results/fleet.json
node --import tsx bench/redis-memory.ts --entries 1000000 --json bench/results/redis-memory.json
echo "== done $(date -u +%FT%TZ)"
