# Slow database link: the checkout service must keep its p99 latency under 500ms
# while every packet from the database to its clients waits an extra 200ms.
# Demonstrates: variables, locals, the experiment block, prometheus with a token file,
# a compose-service target, a delay fault filtered by destination and port, a crash
# of the database, metrics, checks with bounds and max_change, and an abort guard.

variable "prometheus_url" {
  type    = string
  default = "http://127.0.0.1:9090"
}

variable "latency" {
  type        = string
  default     = "200ms"
  description = "added delay on the database link"
}

locals {
  job = "shop"
}

experiment "checkout-survives-slow-db" {
  description = "Checkout keeps p99 under 500ms while the database link is slow"
  labels      = { team = "payments", tier = "critical" }
  baseline    = "60s"
  recovery    = "120s"
  step        = "5s"
  max_targets = 3
}

prometheus {
  url               = var.prometheus_url
  bearer_token_file = "/run/secrets/prom-token"
  timeout           = "10s"
  loss_grace        = "30s"
}

target "db" {
  labels = { "com.docker.compose.service" = "db" }
  pick   = "one"
}

fault "delay" "slow_db" {
  target   = target.db
  start    = "0s"
  duration = "60s"
  latency  = var.latency
  jitter   = "20ms"
  to       = ["10.0.0.0/8", "172.16.0.0/12"]
  ports    = [5432]
}

fault "kill" "db_crash" {
  target = target.db
  start  = "90s"
  signal = "KILL"
}

metric "p99_latency" {
  query = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job=\"${local.job}\"}[30s])))"
  unit  = "s"
}

metric "error_ratio" {
  query = format("sum(rate(http_requests_total{job=%q,code=~\"5..\"}[30s])) / sum(rate(http_requests_total{job=%q}[30s]))", local.job, local.job)
}

check "latency_slo" {
  metric         = metric.p99_latency
  below          = 0.5
  during         = ["fault", "recovery"]
  recover_within = "30s"
}

check "errors_stay_flat" {
  metric     = metric.error_ratio
  max_change = "50%"
  aggregate  = "mean"
}

abort "error_storm" {
  metric = metric.error_ratio
  above  = 0.5
  for    = "15s"
}
