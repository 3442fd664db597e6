#!/usr/bin/env bash
# Container faults on 1, 10 and 50 containers, in the same run:
#  - BenchmarkContainerFaults: faultline's Prepare+Apply and Revert through the Engine
#    API, against the docker CLI called per container and one CLI call given every id;
#  - BenchmarkCommands: whole commands on 50 containers, `faultline run` against one
#    docker CLI call given every id, and Pumba when PUMBA names its binary, timed to the
#    engine's 50th event, to every process dead (kill), and to the command's exit.
# Prints the raw benchmark lines, then the ratios and the ranges over the rounds.
# BENCHTIME=3x by default (3 rounds); BENCH is the -bench regex (default: both).
# Every container is created and removed by the benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
go test ./bench/container -run '^$' -bench "${BENCH:-ContainerFaults|Commands}" -benchtime "${BENCHTIME:-3x}" -timeout 90m -v | tee "$out" || status=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk '
/^BenchmarkContainerFaults\// {
  split($1, p, "/"); key = p[2] "/" p[3]; way = p[4]; sub(/-[0-9]+$/, "", way)
  for (i = 2; i < NF; i++) { if ($(i+1) == "inject-ms") inj[key, way] = $i; if ($(i+1) == "revert-ms") rev[key, way] = $i; if ($(i+1) == "apply-ms") app[key] = $i }
  if (!(key in seen)) { seen[key] = 1; order[++n] = key }
}
function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.1fx", b / a) : "-" }
END {
  if (n == 0) exit
  print "API: inject and revert ms per iteration (mean); ratio = CLI time / faultline time"
  printf "%-16s %9s %9s %7s %9s %7s | %9s %9s %7s %9s %7s\n", "fault/size", "inject", "cli-loop", "ratio", "cli-all", "ratio", "revert", "cli-loop", "ratio", "cli-all", "ratio"
  for (i = 1; i <= n; i++) {
    k = order[i]; f = inj[k, "faultline"]; r = rev[k, "faultline"]
    printf "%-16s %9.0f %9.0f %7s %9.0f %7s | %9.0f %9.0f %7s %9.0f %7s\n", k,
      f, inj[k, "docker-cli"], ratio(f, inj[k, "docker-cli"]), inj[k, "docker-cli-all"], ratio(f, inj[k, "docker-cli-all"]),
      r, rev[k, "docker-cli"], ratio(r, rev[k, "docker-cli"]), rev[k, "docker-cli-all"], ratio(r, rev[k, "docker-cli-all"])
  }
  print ""
}' "$out"
awk '
$2 == "round" {
  key = $3 " " $4 " " $5; v = $6 + 0
  if (!(key in lo)) { lo[key] = v; hi[key] = v; order[++n] = key }
  if (v < lo[key]) lo[key] = v
  if (v > hi[key]) hi[key] = v
}
END {
  if (n == 0) exit
  print "Commands on 50 containers: ms from the command start, min-max over the rounds"
  for (i = 1; i <= n; i++) printf "%-40s %8.0f - %-8.0f\n", order[i], lo[order[i]], hi[order[i]]
}' "$out"
exit "$status"
