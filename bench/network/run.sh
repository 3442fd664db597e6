#!/usr/bin/env bash
# Network faults: bandwidth (tbf) apply and revert on 1, 10 and 50 containers, faultline
# over netlink against `tc` run per container through `nsenter`, in the same run; then
# netem apply and revert timed in the kernel sandbox (emulated, no comparison).
# Prints the raw benchmark lines, then the ratios. BENCHTIME=5x by default.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test ./bench/network -run '^$' -bench Bandwidth -benchtime "${BENCHTIME:-5x}" -timeout 60m | tee "$out"
echo
awk '
/^BenchmarkBandwidth\// {
  split($1, p, "/"); size = p[2]; way = p[3]; sub(/-[0-9]+$/, "", way)
  for (i = 2; i < NF; i++) {
    if ($(i+1) == "apply-ms") app[size, way] = $i
    if ($(i+1) == "revert-ms") rev[size, way] = $i
    if ($(i+1) == "applyonly-ms") only[size] = $i
  }
  if (!(size in seen)) { seen[size] = 1; order[++n] = size }
}
END {
  printf "%-11s %14s %10s %8s %14s %8s %14s %10s %8s\n", "size", "faultline ms", "tc ms", "ratio", "apply-only ms", "ratio", "revert ms", "tc ms", "ratio"
  for (i = 1; i <= n; i++) {
    s = order[i]; f = app[s, "faultline"]; t = app[s, "tc-nsenter"]
    printf "%-11s %14.2f %10.1f %7.0fx %14.2f %7.0fx %14.2f %10.1f %7.0fx\n", s, f, t, t / f, only[s], t / only[s], rev[s, "faultline"], rev[s, "tc-nsenter"], rev[s, "tc-nsenter"] / rev[s, "faultline"]
  }
}' "$out"
echo
echo "netem in the kernel sandbox (emulated CPU, no comparison):"
FAULTLINE_SANDBOX_BENCH=BenchmarkSandboxNetem go test -tags sandbox -count=1 -v -run "^TestKernelSandboxNetworkFaults$" ./internal/kernelsandbox | grep -E '^BenchmarkSandboxNetem/'
