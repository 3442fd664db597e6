#!/usr/bin/env bash
# Peak RSS of the embedded Prometheus over a run: 20 series scraped every second, five
# queries sampled every second, one HTTP probe every second, for
# FAULTLINE_RSS_DURATION (default 10m). Goal: under 80 MB. Prints the benchmark line.
set -euo pipefail
cd "$(dirname "$0")/../.."
dur=${FAULTLINE_RSS_DURATION:-10m}
echo "embedded store for $dur (20 series at 1s, 5 queries/s, 1 probe/s)"
FAULTLINE_RSS_DURATION=$dur go test ./bench/metrics -run '^$' -bench EmbeddedStorePeakRSS -benchtime 1x -timeout 0 |
  grep -E 'EmbeddedStorePeakRSS|^(ok|FAIL)'
