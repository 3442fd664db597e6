#!/usr/bin/env bash
# One sampling round (an instant query per metric) against a real Prometheus, for 1, 5
# and 20 metrics: faultline's concurrent Sampler against the same queries one after the
# other in process, and against curl run per query. Prints the raw lines, then ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test ./bench/metrics -run '^$' -bench SamplingRound -benchtime "${BENCHTIME:-50x}" -timeout 20m | tee "$out"
echo
awk '
/^BenchmarkSamplingRound\// {
  split($1, p, "/"); key = p[2]; way = p[3]; sub(/-[0-9]+$/, "", way)
  for (i = 2; i < NF; i++) if ($(i+1) == "round-ms") ms[key, way] = $i
  if (!(key in seen)) { seen[key] = 1; order[++n] = key }
}
END {
  printf "%-12s %14s %14s %8s %10s %8s\n", "size", "faultline ms", "sequential ms", "ratio", "curl ms", "ratio"
  for (i = 1; i <= n; i++) {
    k = order[i]; f = ms[k, "faultline"]
    printf "%-12s %14.2f %14.2f %7.1fx %10.2f %7.1fx\n", k, f, ms[k, "sequential"], ms[k, "sequential"] / f, ms[k, "curl"], ms[k, "curl"] / f
  }
}' "$out"
