#!/usr/bin/env bash
# The faultline demo: builds the shop's image FROM scratch, starts three backend
# replicas, a frontend (published on 127.0.0.1) and a load generator on their own
# Docker network, starts a Prometheus scraping them, runs examples/shop/experiment.hcl,
# prints where the HTML report is, and tears everything down, also on failure or
# Ctrl-C.
#
#   make demo                      # or: bash examples/shop/demo.sh
#   UNIT=4 make demo               # a shorter run (every time is a multiple of UNIT seconds)
#   EXPERIMENT=examples/shop/netem.hcl make demo   # needs sch_netem in the kernel
set -euo pipefail
cd "$(dirname "$0")/../.."

STACK=${STACK:-faultline-demo}
UNIT=${UNIT:-10}
EXPERIMENT=${EXPERIMENT:-examples/shop/experiment.hcl}
PROM_PORT=${PROM_PORT:-19090}
FRONT_PORT=${FRONT_PORT:-18080}
OUT=${OUT:-examples/shop/demo-report}
IMAGE=faultline-shop:demo

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

command -v docker >/dev/null || { echo "the demo needs Docker (the docker CLI and a running engine)"; exit 5; }
# Prometheus: the installed binary if there is one, else the prom/prometheus image when
# the engine has it or can pull it.
PROM_IMAGE=${PROM_IMAGE:-prom/prometheus}
if command -v prometheus >/dev/null; then
  prom_from="the prometheus binary at $(command -v prometheus)"
elif docker image inspect "$PROM_IMAGE" >/dev/null 2>&1 || docker pull -q "$PROM_IMAGE" >/dev/null 2>&1; then
  prom_from="the $PROM_IMAGE image (no prometheus binary installed)"
else
  echo "the demo needs a Prometheus server: install the prometheus binary (Debian: apt-get install prometheus),"
  echo "or let the Docker Engine pull $PROM_IMAGE (it could not: no registry reachable?)"
  exit 5
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
curl -fsS "http://127.0.0.1:$FRONT_PORT/api/item" | head -c 40; echo " ... (the frontend answers on 127.0.0.1:$FRONT_PORT)"

say "running $EXPERIMENT"
set +e
bin/faultline run --var "prometheus_url=http://127.0.0.1:$PROM_PORT" --var "stack=$STACK" --var "unit=$UNIT" \
  --out "$OUT" --format html,text "$EXPERIMENT"
code=$?
set -e

echo
case $code in
  0|1) say "HTML report: $PWD/$OUT/result.html  (faultline exited $code: $([ $code = 0 ] && echo 'every check passed' || echo 'a check failed, as the demo intends'))"; exit 0 ;;
  *)   say "faultline exited $code (see docs/running.md for exit codes)"; [ -f "$OUT/result.html" ] && say "HTML report: $PWD/$OUT/result.html"; exit "$code" ;;
esac
