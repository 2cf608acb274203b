#!/usr/bin/env bash
# xDS scale benchmark for `strait control-plane` (not a test; CI does not run it).
#
# For each (clients N, services M) cell: generate M Services (+2 Pods each) and M/10
# VirtualServices, start the control plane (release build) on free loopback ports, connect N
# sidecar-like ADS clients (xds-scale-client), wait until all are synced, then change one
# VirtualService's weights and measure from the file write to the last client's ACK of the new
# version. Control-plane RSS and CPU come from /proc/PID/{status,stat}. See README.md.
#
# usage: bench/xds-scale/run.sh [--quick] [--delta] [--clients "100 500"] [--services "100 500"]
#                               [--streams-per-conn K] [--kb-per-pair KB] [--keep]
#   Cells whose estimated control-plane memory (KB x clients x services; 24 KB measured for
#   SotW on this code base) exceeds 80% of MemAvailable are SKIPPED instead of OOM-killing the box.
# env:   STRAIT_BIN  use this strait binary instead of building one
#        CLIENT_BIN  use this xds-scale-client binary instead of building one
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
clients_grid="100 500 1000 2000"
services_grid="100 500 1000 2000"
delta=""
streams_per_conn=100
keep=""
kb_per_pair=24
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) clients_grid="100 500"; services_grid="100 500" ;;
    --delta) delta="--delta" ;;
    --clients) clients_grid="$2"; shift ;;
    --services) services_grid="$2"; shift ;;
    --streams-per-conn) streams_per_conn="$2"; shift ;;
    --keep) keep=1 ;;
    --kb-per-pair) kb_per_pair="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "${STRAIT_BIN:-}" ] || [ -z "${CLIENT_BIN:-}" ]; then
  (cd "$root" && cargo build --release -q -p strait -p strait-bench-xds)
fi
target=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
strait=${STRAIT_BIN:-$target/release/strait}
client=${CLIENT_BIN:-$target/release/xds-scale-client}

# Streams are multiplexed (100 per HTTP/2 connection), so few descriptors are needed; raise the
# limit anyway in case --streams-per-conn 1 is used to get one connection per client.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d /tmp/xds-scale.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "$keep" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# utime+stime (fields 14 and 15; the command name cannot contain ')' here).
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12+$13)/hz}'; }
metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {print $2}'; }

# wait_line FILE WORD TIMEOUT_S: prints the first line of FILE starting with WORD.
wait_line() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    if grep -q '^error ' "$1" 2>/dev/null; then grep '^error ' "$1" | head -3 >&2; return 1; fi
    if grep -q "^$2 " "$1" 2>/dev/null; then grep "^$2 " "$1" | head -1; return 0; fi
    sleep 0.05
  done
  echo "timeout waiting for '$2' in $1" >&2
  return 1
}

run_cell() {
  local n=$1 m=$2 cfg="$work/cfg-$2-$1"
  python3 "$here/gen_config.py" "$cfg" "$m"
  local xds dbg
  xds=$(free_port); dbg=$(free_port)
  RUST_LOG=warn "$strait" control-plane --config "$cfg" --xds-address "127.0.0.1:$xds" \
    --debug-address "127.0.0.1:$dbg" >"$work/cp-$m-$n.log" 2>&1 &
  local cp=$!; pids+=("$cp")
  local t=0
  until curl -sf "http://127.0.0.1:$dbg/ready" >/dev/null; do
    sleep 0.1; t=$((t + 1)); [ $t -lt 600 ] || { echo "control plane not ready" >&2; return 1; }
  done
  local out="$work/client-$m-$n.out"
  "$client" --address "127.0.0.1:$xds" --clients "$n" --streams-per-conn "$streams_per_conn" $delta \
    >"$out" 2>"$work/client-$m-$n.err" &
  local cl=$!; pids+=("$cl")
  local timeout=$((120 + n * m / 1000))
  local synced; synced=$(wait_line "$out" synced "$timeout") || return 1
  local initial; initial=$(echo "$synced" | awk '{print $2}')
  sleep 1
  local cpu0 sum0 cnt0
  cpu0=$(cpu_s "$cp"); sum0=$(metric "$dbg" pilot_proxy_convergence_time_ms_sum); cnt0=$(metric "$dbg" pilot_proxy_convergence_time_ms_count)
  local rss0; rss0=$(rss_mb "$cp")
  local write_ms; write_ms=$(date +%s%3N)
  sed -i 's/weight: 90/weight: 80/; s/weight: 10/weight: 20/' "$cfg/vs-0.yaml"
  local conv; conv=$(wait_line "$out" converged "$timeout") || return 1
  local first last
  first=$(echo "$conv" | awk '{print $2}'); last=$(echo "$conv" | awk '{print $3}')
  sleep 0.5
  local rss1 hwm cpu1 sum1 cnt1 rejects synced_rows
  rss1=$(rss_mb "$cp"); hwm=$(hwm_mb "$cp"); cpu1=$(cpu_s "$cp")
  sum1=$(metric "$dbg" pilot_proxy_convergence_time_ms_sum); cnt1=$(metric "$dbg" pilot_proxy_convergence_time_ms_count)
  rejects=$(metric "$dbg" pilot_total_xds_rejects)
  synced_rows=$(curl -sf "http://127.0.0.1:$dbg/debug/syncz" |
    jq '[.[] | select([.state[]] | all(. == "SYNCED"))] | length')
  kill "$cl" "$cp" 2>/dev/null || true
  wait "$cl" "$cp" 2>/dev/null || true
  local server_avg
  server_avg=$(awk -v s0="${sum0:-0}" -v s1="${sum1:-0}" -v c0="${cnt0:-0}" -v c1="${cnt1:-0}" \
    'BEGIN { if (c1 > c0) printf "%.0f", (s1 - s0) / (c1 - c0); else print "-" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' >"$work/row" "$n" "$m" "$initial" "$((last - write_ms))" \
    "$rss1" "$cpu1" "$((first - write_ms))" "$rss0" "$hwm" \
    "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b - a}')" "$server_avg" "$synced_rows/$n" "${rejects:-0}"
}

mode=${delta:+delta}
echo "# strait xDS scale: ${mode:-sotw}, $streams_per_conn streams per connection, $(nproc) cores" >&2
header="clients\tservices\tinitial_sync_s\tchange_to_last_ack_ms\trss_mb\tcpu_s\tchange_to_first_ack_ms\trss_before_mb\trss_peak_mb\tchange_cpu_s\tserver_conv_avg_ms\tall_synced\trejects"
printf '%b\n' "$header" >"$work/results.tsv"
mem_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
for n in $clients_grid; do
  for m in $services_grid; do
    if [ $((kb_per_pair * n * m)) -gt $((mem_kb * 8 / 10)) ]; then
      printf '%s\t%s\tSKIPPED (estimated %s MB > 80%% of available memory)\n' "$n" "$m" \
        $((kb_per_pair * n * m / 1024)) | tee -a "$work/results.tsv" >&2
      continue
    fi
    if run_cell "$n" "$m"; then
      cat "$work/row" >>"$work/results.tsv"
      cat "$work/row" >&2
    else
      printf '%s\t%s\tFAILED\n' "$n" "$m" >>"$work/results.tsv"
      echo "cell $n x $m failed; logs kept in $work" >&2
      keep=1
    fi
    # A failed cell may leave its processes behind.
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
  done
done
column -t -s $'\t' "$work/results.tsv"
