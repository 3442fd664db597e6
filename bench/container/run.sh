#!/usr/bin/env bash
# Container faults, faultline against the docker CLI called per container, on 1, 10 and
# 50 containers in the same run. Prints the raw benchmark lines, then the ratios.
# BENCHTIME=3x by default; every container is created and removed by the benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test ./bench/container -run '^$' -bench ContainerFaults -benchtime "${BENCHTIME:-3x}" -timeout 60m | tee "$out"
echo
awk '
/^BenchmarkContainerFaults\// {
  split($1, p, "/"); key = p[2] "/" p[3]; way = p[4]; sub(/-[0-9]+$/, "", way)
  for (i = 2; i < NF; i++) { if ($(i+1) == "inject-ms") inj[key, way] = $i; if ($(i+1) == "revert-ms") rev[key, way] = $i; if ($(i+1) == "apply-ms") app[key] = $i }
  if (!(key in seen)) { seen[key] = 1; order[++n] = key }
}
END {
  printf "%-16s %12s %12s %8s %12s %12s %8s %10s\n", "fault/size", "inject ms", "cli ms", "ratio", "revert ms", "cli ms", "ratio", "apply ms"
  for (i = 1; i <= n; i++) {
    k = order[i]
    ri = (inj[k, "faultline"] > 0) ? inj[k, "docker-cli"] / inj[k, "faultline"] : 0
    rr = (rev[k, "docker-cli"] > 0 && rev[k, "faultline"] > 0) ? sprintf("%.1fx", rev[k, "docker-cli"] / rev[k, "faultline"]) : "-"
    printf "%-16s %12.0f %12.0f %7.1fx %12.0f %12.0f %8s %10.0f\n", k, inj[k, "faultline"], inj[k, "docker-cli"], ri, rev[k, "faultline"], rev[k, "docker-cli"], rr, app[k]
  }
}' "$out"
