#!/usr/bin/env bash
# Peak RSS of a whole `faultline run` on the embedded Prometheus: no prometheus block,
# one scrape job of 20 series (bench/metrics/exporter on loopback) at step 1s, one
# metric with a check, and a pause fault on a sleeper container of its own, with the
# baseline, fault and recovery together lasting DURATION (default 10m). The run is a
# dry run (the fault is planned, never applied, and no watchdog is armed); DRY_RUN=0
# pauses the sleeper for real, which arms a watchdog, whose memory is reported apart.
# Every second it reads VmHWM and VmRSS of the faultline process (and of its children)
# from /proc; at the end it prints the peaks and the size of the run's TSDB.
# MB here is 2^20 bytes. BIN= uses a built binary instead of `make build`; KEEP=1 keeps
# the work directory (experiment, run log, reports, TSDB). Needs Docker (no registry:
# the sleeper image is built FROM scratch) and Linux.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${DURATION:-10m}
case $duration in
  *h) secs=$(( ${duration%h} * 3600 )) ;;
  *m) secs=$(( ${duration%m} * 60 )) ;;
  *s) secs=${duration%s} ;;
  *) echo "DURATION=$duration: want whole seconds, minutes or hours, such as 90s or 10m" >&2; exit 2 ;;
esac
if (( secs < 5 )); then echo "DURATION=$duration: at least 5s" >&2; exit 2; fi
baseline=$(( secs * 2 / 5 )); fault=$(( secs / 5 )); recovery=$(( secs - baseline - fault ))

work=$(mktemp -d /tmp/faultline-run-rss.XXXXXX)
tag=faultline-bench-rss:$$
name=faultline-bench-rss-$$
exporter_pid= run_pid=
cleanup() {
  [[ -n $run_pid ]] && kill "$run_pid" 2>/dev/null || true
  [[ -n $exporter_pid ]] && kill "$exporter_pid" 2>/dev/null || true
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker rmi "$tag" >/dev/null 2>&1 || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

bin=${BIN:-}
if [[ -z $bin ]]; then make -s build; bin=bin/faultline; fi
CGO_ENABLED=0 go build -o "$work/exporter" ./bench/metrics/exporter
mkdir "$work/image"
CGO_ENABLED=0 go build -o "$work/image/app" ./internal/dockertest/sleeper
printf 'FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n' >"$work/image/Dockerfile"
docker build -q -t "$tag" "$work/image" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
docker run -d --name "$name" --label "faultline.bench=rss-$$" "$tag" >/dev/null

"$work/exporter" -listen 127.0.0.1:0 >"$work/exporter.out" 2>&1 &
exporter_pid=$!
for _ in $(seq 50); do grep -q '^listening ' "$work/exporter.out" && break; sleep 0.1; done
addr=$(sed -n 's/^listening //p' "$work/exporter.out")
[[ -n $addr ]] || { echo "exporter did not start: $(cat "$work/exporter.out")" >&2; exit 1; }

cat >"$work/rss.hcl" <<HCL
experiment "run-rss" {
  description = "peak RSS of a run on the embedded Prometheus"
  baseline    = "${baseline}s"
  recovery    = "${recovery}s"
  step        = "1s"
}

target "sleeper" {
  labels = { "faultline.bench" = "rss-$$" }
}

scrape "exporter" {
  targets = ["$addr"]
}

fault "pause" "frozen" {
  target   = target.sleeper
  duration = "${fault}s"
}

metric "latency" {
  query = "max(faultline_bench_latency_seconds)"
  unit  = "s"
}

check "latency_bounded" {
  metric = metric.latency
  below  = 1
}
HCL

flags=(--dry-run)
[[ ${DRY_RUN:-1} == 0 ]] && flags=()
echo "faultline run ${flags[*]:-(faults applied)} for $duration (baseline ${baseline}s, fault ${fault}s, recovery ${recovery}s): 20 series at 1s"
start=$SECONDS
"$bin" run "${flags[@]}" --state-dir "$work/state" --out "$work/out" --format text "$work/rss.hcl" >"$work/run.log" 2>&1 &
run_pid=$!

kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$2/status" 2>/dev/null || true; }
hwm=0 rss=0 child_hwm=0
while kill -0 "$run_pid" 2>/dev/null; do
  h=$(kb VmHWM "$run_pid"); r=$(kb VmRSS "$run_pid")
  (( ${h:-0} > hwm )) && hwm=$h
  (( ${r:-0} > rss )) && rss=$r
  for c in $(cat /proc/"$run_pid"/task/*/children 2>/dev/null); do
    h=$(kb VmHWM "$c")
    (( ${h:-0} > child_hwm )) && child_hwm=$h
  done
  sleep 1
done
code=0; wait "$run_pid" || code=$?
run_pid=
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
echo "exit $code after $(( SECONDS - start ))s"
echo "faultline peak RSS (VmHWM): $(mb "$hwm"); highest VmRSS seen: $(mb "$rss")"
if (( child_hwm > 0 )); then echo "children (watchdog) peak RSS: $(mb "$child_hwm")"; else echo "no child process seen"; fi
echo "TSDB on disk: $(awk -v b="$(du -sb "$work/out/tsdb" | cut -f1)" 'BEGIN { printf "%.2f MB", b / 1048576 }')"
(( code == 0 )) || { echo "--- run log (tail)"; tail -n 20 "$work/run.log"; }
exit "$code"
