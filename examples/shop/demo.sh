#!/usr/bin/env bash
# The faultline demo: builds the shop's image FROM scratch, starts three backend
# replicas, a frontend (published on 127.0.0.1) and a load generator on their own
# Docker network, runs examples/shop/experiment.hcl, prints where the HTML report is,
# and tears everything down, also on failure or Ctrl-C.
#
# Nothing else is needed: faultline scrapes the shop into its embedded Prometheus
# (kept in $OUT/tsdb). With PROMETHEUS_URL set, the demo starts a Prometheus server
# listening there (the prometheus binary, or the prom/prometheus image) scraping the
# shop, and the experiment's metrics are evaluated on it instead.
#
#   make demo                      # or: bash examples/shop/demo.sh
#   UNIT=4 make demo               # a shorter run (every time is a multiple of UNIT seconds)
#   PROMETHEUS_URL=http://127.0.0.1:19090 make demo   # the same, on a Prometheus server
#   EXPERIMENT=examples/shop/netem.hcl make demo      # needs sch_netem in the kernel
#   make gameday                   # GAMEDAY=1: the shop under faultline serve, until Ctrl-C
set -euo pipefail
cd "$(dirname "$0")/../.."

STACK=${STACK:-faultline-demo}
UNIT=${UNIT:-10}
EXPERIMENT=${EXPERIMENT:-examples/shop/experiment.hcl}
PROMETHEUS_URL=${PROMETHEUS_URL:-}
FRONT_PORT=${FRONT_PORT:-18080}
OUT=${OUT:-examples/shop/demo-report}
IMAGE=faultline-shop:demo

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

command -v docker >/dev/null || { echo "the demo needs Docker (the docker CLI and a running engine)"; exit 5; }
command -v go >/dev/null || { echo "the demo needs Go (1.26 or later) to build faultline and the shop"; exit 5; }
PROM_IMAGE=${PROM_IMAGE:-prom/prometheus}
if [ -n "$PROMETHEUS_URL" ]; then
  PROM_ADDR=${PROMETHEUS_URL#http://}
  PROM_ADDR=${PROM_ADDR%%/*}
  case $PROM_ADDR in
    127.0.0.1:*|localhost:*) PROM_PORT=${PROM_ADDR##*:} ;;
    *) echo "PROMETHEUS_URL must be http://127.0.0.1:PORT: the demo starts the server there"; exit 2 ;;
  esac
  # The installed binary if there is one, else the prom/prometheus image when the
  # engine has it or can pull it.
  if command -v prometheus >/dev/null; then
    prom_from="the prometheus binary at $(command -v prometheus)"
  elif docker image inspect "$PROM_IMAGE" >/dev/null 2>&1 || docker pull -q "$PROM_IMAGE" >/dev/null 2>&1; then
    prom_from="the $PROM_IMAGE image (no prometheus binary installed)"
  else
    echo "PROMETHEUS_URL is set, so the demo needs a Prometheus server: install the prometheus binary"
    echo "(Debian: apt-get install prometheus), or let the Docker Engine pull $PROM_IMAGE;"
    echo "or unset PROMETHEUS_URL: faultline then observes the shop with its embedded Prometheus"
    exit 5
  fi
fi

work=$(mktemp -d)
prom_pid=
cleanup() {
  say "tearing down"
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null || true
  docker rm -f "$STACK-prometheus" "$STACK-loadgen" "$STACK-frontend" "$STACK-backend-1" "$STACK-backend-2" "$STACK-backend-3" >/dev/null 2>&1 || true
  docker network rm "$STACK" >/dev/null 2>&1 || true
  docker rmi "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building faultline and the shop image (FROM scratch)"
make -s build
CGO_ENABLED=0 go build -trimpath -o "$work/shop" ./examples/shop
cp examples/shop/Dockerfile "$work/"
docker build -q -t "$IMAGE" "$work" >/dev/null

say "starting the shop on network $STACK"
docker network create --label "shop.stack=$STACK" "$STACK" >/dev/null
labels=(--label "shop.stack=$STACK")
backends=()
for i in 1 2 3; do
  docker run -d --name "$STACK-backend-$i" --network "$STACK" "${labels[@]}" \
    --label shop.role=backend --label "shop.replica=$i" \
    "$IMAGE" backend --listen :8080 --work 5ms --payload 4096 >/dev/null
  backends+=("$STACK-backend-$i:8080")
done
docker run -d --name "$STACK-frontend" --network "$STACK" "${labels[@]}" --label shop.role=frontend \
  -p "127.0.0.1:$FRONT_PORT:8080" \
  "$IMAGE" frontend --listen :8080 --backends "$(IFS=,; echo "${backends[*]}")" --timeout 300ms --retries 2 >/dev/null
docker run -d --name "$STACK-loadgen" --network "$STACK" "${labels[@]}" --label shop.role=loadgen \
  "$IMAGE" loadgen --target "http://$STACK-frontend:8080/api/item" --rps 20 --timeout 10s --listen :9100 >/dev/null

if [ -n "$PROMETHEUS_URL" ]; then
  ip() { docker inspect -f "{{(index .NetworkSettings.Networks \"$STACK\").IPAddress}}" "$1"; }
  targets="'$(ip "$STACK-frontend"):8080', '$(ip "$STACK-loadgen"):9100'"
  for i in 1 2 3; do targets="$targets, '$(ip "$STACK-backend-$i"):8080'"; done

  say "starting Prometheus on 127.0.0.1:$PROM_PORT, from $prom_from"
  cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: shop
    static_configs:
      - targets: [$targets]
YAML
  if command -v prometheus >/dev/null; then
    prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
      --web.listen-address="127.0.0.1:$PROM_PORT" >"$work/prometheus.log" 2>&1 &
    prom_pid=$!
  else
    chmod 644 "$work/prometheus.yml"
    docker run -d --name "$STACK-prometheus" --network "$STACK" "${labels[@]}" --label shop.role=prometheus \
      -p "127.0.0.1:$PROM_PORT:9090" -v "$work/prometheus.yml:/etc/prometheus/prometheus.yml:ro" \
      "$PROM_IMAGE" >/dev/null
    docker logs -f "$STACK-prometheus" >"$work/prometheus.log" 2>&1 &
  fi
  for _ in $(seq 100); do
    up=$(curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query?query=sum(up)" 2>/dev/null | sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)".*/\1/p' || true)
    [ "$up" = 5 ] && break
    sleep 0.3
  done
  [ "$up" = 5 ] || { echo "Prometheus does not see the 5 shop targets up:"; tail -20 "$work/prometheus.log"; exit 5; }
  source_vars=(--var source=prometheus --var "prometheus_url=http://127.0.0.1:$PROM_PORT")
else
  say "observing with faultline's embedded Prometheus (nothing to install)"
  source_vars=(--var source=local)
fi
# faultline's preflight waits for the first scrape of every container (and names one
# that does not answer): nothing to poll here, and no curl needed.
echo "the shop's frontend is published on http://127.0.0.1:$FRONT_PORT/api/item"

if [ -n "${GAMEDAY:-}" ]; then
  # A game day on the shop: faultline serve runs the experiment every EVERY (and on
  # "Run now"), keeps each run in examples/shop/gameday-history, until Ctrl-C.
  SERVE_LISTEN=${SERVE_LISTEN:-127.0.0.1:7070}
  EVERY=${EVERY:-10m}
  HISTORY=${HISTORY:-$PWD/examples/shop/gameday-history}
  (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$work/token")
  cat >"$work/gameday.hcl" <<HCL
server {
  listen     = "$SERVE_LISTEN"
  token_file = "token"
  data_dir   = "$HISTORY"
}

schedule "shop" {
  experiment = "$PWD/$EXPERIMENT"
  cron       = "@every $EVERY"
  vars       = { source = "local", stack = "$STACK", unit = "$UNIT" }
}
HCL
  say "faultline serve on http://$SERVE_LISTEN/: $EXPERIMENT every $EVERY, and on Run now"
  echo "log in with the token in $work/token (cat it); Ctrl-C stops serve, reverts a running fault and tears the shop down"
  set +e
  bin/faultline serve "$work/gameday.hcl"
  code=$?
  set -e
  say "faultline serve exited $code; the history stays in $HISTORY"
  exit "$code"
fi

say "running $EXPERIMENT"
set +e
rm -rf "$OUT/tsdb" # the embedded store of an earlier demo: each run keeps its own
bin/faultline run "${source_vars[@]}" --var "stack=$STACK" --var "unit=$UNIT" \
  --out "$OUT" --format html,text "$EXPERIMENT"
code=$?
set -e

echo
case $code in
  0|1) say "HTML report: $PWD/$OUT/result.html  (faultline exited $code: $([ $code = 0 ] && echo 'every check passed' || echo 'a check failed, as the demo intends'))"; exit 0 ;;
  *)   say "faultline exited $code (see docs/running.md for exit codes)"; [ -f "$OUT/result.html" ] && say "HTML report: $PWD/$OUT/result.html"; exit "$code" ;;
esac
