# The shop demo: three backend replicas behind a frontend that retries on the next
# replica (timeout 300ms, 2 retries), under steady load from the load generator.
#
#   1. one replica is killed with SIGKILL, and started again after a while;
#   2. later another replica is frozen (paused);
#   3. last, the frontend's outgoing link is capped at a low bandwidth.
#
# The retries hide the lost and the frozen replica from users: the share of failed
# requests stays under its bound. The bandwidth cap does not fail requests but makes
# them slow: the latency SLO breaks while it holds, and latency recovers after.
# So `faultline run` exits 1, with one check failed, which is what this demo shows.
#
# Times are multiples of var.unit (seconds): `make demo` uses the default (10s,
# about 2.5 minutes); the end-to-end test runs it with a smaller unit.
#
# Nothing needs to be installed to watch it: by default faultline scrapes the shop
# itself (the scrape blocks below) into an embedded Prometheus, and evaluates every
# metric there. --var source=prometheus evaluates them on the server at
# var.prometheus_url instead, which must scrape the same containers.

variable "source" {
  description = "where metrics are evaluated: local (embedded) or prometheus (var.prometheus_url)"
  default     = "local"
}

variable "prometheus_url" {
  default = "http://127.0.0.1:9090"
}

variable "stack" {
  description = "value of the shop.stack label of the demo's containers"
  default     = "faultline-demo"
}

variable "unit" {
  description = "seconds per step of the timeline"
  default     = 10
}

variable "cap" {
  description = "bandwidth cap on the frontend"
  default     = "512kbit"
}

experiment "shop-survives-replica-loss" {
  description = "Retries hide lost and frozen backend replicas; a thin frontend link breaks the latency SLO"
  baseline    = "${var.unit * 3}s"
  recovery    = "${var.unit * 3}s"
  step        = "1s"
  max_targets = 3
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

target "frontend" {
  labels = { "shop.stack" = var.stack, "shop.role" = "frontend" }
}

# Observed, never touched: only scrape blocks use these, so they are neither claimed
# nor counted by max_targets.
target "backends" {
  labels = { "shop.stack" = var.stack, "shop.role" = "backend" }
}

target "loadgen" {
  labels = { "shop.stack" = var.stack, "shop.role" = "loadgen" }
}

# Each container is scraped at its address on the shop's Docker network; the interval
# is the step (1s).
scrape "backend" {
  target = target.backends
  port   = 8080
}

scrape "frontend" {
  target = target.frontend
  port   = 8080
}

scrape "loadgen" {
  target = target.loadgen
  port   = 9100
}

fault "kill" "replica_dies" {
  target   = target.replica_1
  start    = "0s"
  duration = "${var.unit * 3}s"
  signal   = "SIGKILL"
  restore  = true
}

fault "pause" "replica_freezes" {
  target   = target.replica_2
  start    = "${var.unit * 4}s"
  duration = "${var.unit * 2}s"
}

# The cap holds for a fixed 8s whatever the unit: the load does not fit through it,
# so a backlog builds, and held longer it would turn slow requests into timeouts.
fault "bandwidth" "thin_frontend_link" {
  target   = target.frontend
  start    = "${var.unit * 7}s"
  duration = "8s"
  rate     = var.cap
}

metric "failed_ratio" {
  description = "share of the load generator's requests that failed or timed out"
  source      = var.source
  # The share of all requests of each phase that failed: a ratio of totals.
  phase_query = "1 - sum(increase(loadgen_requests_total{code=\"200\"}[$__phase])) / sum(increase(loadgen_requests_total[$__phase]))"
  query       = "1 - sum(rate(loadgen_requests_total{code=\"200\"}[5s])) / sum(rate(loadgen_requests_total[5s]))"
  # Its baseline is 0: say what change counts, rather than 10% of 0.
  tolerance = 0.01
}

metric "p99_latency" {
  description = "99th percentile of the latency users see"
  source      = var.source
  query       = "histogram_quantile(0.99, sum by (le) (rate(loadgen_request_duration_seconds_bucket[5s])))"
  unit        = "s"
}

metric "upstream_failures" {
  description = "failed calls from the frontend to a backend, per second (each one retried)"
  source      = var.source
  query       = "sum(rate(upstream_requests_total[5s])) - sum(rate(upstream_requests_total{outcome=\"ok\"}[5s]))"
  unit        = "1/s"
  tolerance   = 0.5
}

check "retries_hide_failures" {
  metric = metric.failed_ratio
  below  = 0.05
}

# A frozen replica costs a request one 300ms timeout before its retry: within the SLO.
check "latency_slo" {
  metric = metric.p99_latency
  below  = 1
  during = ["fault"]
}

check "latency_recovers" {
  metric         = metric.p99_latency
  below          = 1
  during         = ["recovery"]
  recover_within = "${var.unit * 2}s"
}

abort "outage" {
  metric = metric.failed_ratio
  above  = 0.5
  for    = "${var.unit}s"
}
