#!/usr/bin/env bash
# Time `faultline validate` on an example, per run over N runs, against the obvious
# floor in the same run: starting the same binary to print its version. The ratio
# is what loading and checking an experiment adds to a process start.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-100}
file=${1:-examples/slow-database.hcl}
bin=$(mktemp -d)/faultline
trap 'rm -rf "$(dirname "$bin")"' EXIT
CGO_ENABLED=0 go build -o "$bin" .

# per_run_ms command... -> "wall_ms cpu_ms" per run. CPU time (user + sys of the
# children) is reported too because wall time on a shared machine mostly measures
# waiting for a core.
per_run_ms() {
  local start end cpu
  start=$(date +%s%N)
  cpu=$( { /usr/bin/time -f "%U %S" bash -c 'for _ in $(seq "$0"); do "${@}" >/dev/null; done' "$runs" "$@"; } 2>&1 | tail -1)
  end=$(date +%s%N)
  echo "$(echo "scale=2; ($end - $start) / $runs / 1000000" | bc) $(echo "$cpu" | awk -v n="$runs" '{printf "%.2f", ($1 + $2) * 1000 / n}')"
}

"$bin" validate "$file" >/dev/null # warm the page cache
version_ms=$(per_run_ms "$bin" version)
validate_ms=$(per_run_ms "$bin" validate "$file")
echo "runs: $runs, file: $file"
read -r version_wall version_cpu <<<"$version_ms"
read -r validate_wall validate_cpu <<<"$validate_ms"
echo "faultline version:  ${version_wall} ms wall, ${version_cpu} ms CPU per run"
echo "faultline validate: ${validate_wall} ms wall, ${validate_cpu} ms CPU per run"
echo "ratio validate/version: wall $(echo "scale=2; $validate_wall / $version_wall" | bc), CPU $(echo "scale=2; $validate_cpu / $version_cpu" | bc)"
