#!/usr/bin/env bash
# Every benchmark, each against its obvious alternative in the same run (see
# docs/benchmarks.md): container faults, network faults, sampling Prometheus, validate.
# ONLY=container,network,metrics,language runs a subset; BENCHTIME is passed through.
# ONLY=embedded runs the 10-minute peak-RSS run of the embedded Prometheus, ONLY=run-rss
# that of a whole `faultline run` on it (needs Docker); neither by default.
set -euo pipefail
cd "$(dirname "$0")/.."
only=",${ONLY:-container,network,metrics,language},"
run() {
  local name=$1; shift
  case "$only" in *",$name,"*) ;; *) return 0 ;; esac
  echo "== $name: $*"
  "$@"
  echo
}
run container bash bench/container/run.sh
run network bash bench/network/run.sh
run metrics bash bench/metrics/run.sh
run language bash bench/language/validate.sh
run embedded bash bench/metrics/rss.sh
run run-rss bash bench/metrics/run-rss.sh
