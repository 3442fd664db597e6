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

per_run_ms() { # command... -> mean milliseconds per run
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$runs"); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo "scale=2; ($end - $start) / $runs / 1000000" | bc
}

"$bin" validate "$file" >/dev/null # warm the page cache
version_ms=$(per_run_ms "$bin" version)
validate_ms=$(per_run_ms "$bin" validate "$file")
echo "runs: $runs, file: $file"
echo "faultline version:  ${version_ms} ms per run"
echo "faultline validate: ${validate_ms} ms per run"
echo "ratio validate/version: $(echo "scale=2; $validate_ms / $version_ms" | bc)"
