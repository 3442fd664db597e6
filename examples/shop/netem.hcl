# The shop demo on a degraded network: one backend replica's packets are delayed,
# then another's are partly lost. The frontend's 300ms timeout and retries must keep
# failures rare; latency rises while the delay holds.
#
# It needs netem (the sch_netem kernel module). On a kernel without it, `faultline
# run` stops in preflight, before any fault, and says so (exit 5):
#   modprobe sch_netem
#
#   EXPERIMENT=examples/shop/netem.hcl make demo

variable "source" {
  description = "where metrics are evaluated: local (embedded) or prometheus (var.prometheus_url)"
  default     = "local"
}

variable "prometheus_url" {
  default = "http://127.0.0.1:9090"
}

variable "stack" {
  default = "faultline-demo"
}

variable "unit" {
  default = 10
}

experiment "shop-on-a-bad-network" {
  description = "Retries and timeouts keep the shop usable when backend links are slow or lossy"
  baseline    = "${var.unit * 3}s"
  recovery    = "${var.unit * 3}s"
  step        = "1s"
  max_targets = 2
}

prometheus {
  url        = var.prometheus_url
  timeout    = "2s"
  loss_grace = "${var.unit * 2}s"
}

target "replica_1" {
  labels = { "shop.stack" = var.stack, "shop.role" = "backend", "shop.replica" = "1" }
}

target "replica_2" {
  labels = { "shop.stack" = var.stack, "shop.role" = "backend", "shop.replica" = "2" }
}

# The load generator is observed, never touched: scraped into the embedded store.
target "loadgen" {
  labels = { "shop.stack" = var.stack, "shop.role" = "loadgen" }
}

scrape "loadgen" {
  target = target.loadgen
  port   = 9100
}

fault "delay" "slow_replica" {
  target   = target.replica_1
  duration = "${var.unit * 3}s"
  latency  = "200ms"
  jitter   = "50ms"
}

fault "loss" "lossy_replica" {
  target   = target.replica_2
  start    = "${var.unit * 4}s"
  duration = "${var.unit * 3}s"
  percent  = 30
}

metric "failed_ratio" {
  source = var.source
  query = "1 - sum(rate(loadgen_requests_total{code=\"200\"}[5s])) / sum(rate(loadgen_requests_total[5s]))"
}

metric "p99_latency" {
  source = var.source
  query = "histogram_quantile(0.99, sum by (le) (rate(loadgen_request_duration_seconds_bucket[5s])))"
  unit  = "s"
}

check "retries_hide_failures" {
  metric = metric.failed_ratio
  below  = 0.05
}

check "latency_recovers" {
  metric         = metric.p99_latency
  below          = 0.5
  during         = ["recovery"]
  recover_within = "${var.unit * 2}s"
}

abort "outage" {
  metric = metric.failed_ratio
  above  = 0.5
  for    = "${var.unit}s"
}
