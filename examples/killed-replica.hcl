# A killed replica: one of the shop's backend replicas dies with SIGKILL, later a
# second one is stopped, paused and restarted. The frontend's retries must keep
# the share of failed requests under 1% and latency must recover within 30s.
# Demonstrates: the kill, stop, pause and restart kinds, a name regex target with a
# count pick, repeated faults (every and times), max_targets, a metric tolerance, and
# a bearer token read from an environment variable.

experiment "frontend-survives-replica-loss" {
  description = "Retries hide the loss of a backend replica from users"
  baseline    = "30s"
  recovery    = "1m"
  step        = "2s"
  max_targets = 2
}

prometheus {
  url              = "http://127.0.0.1:9090"
  bearer_token_env = "PROMETHEUS_TOKEN"
  timeout          = "5s"
  loss_grace       = "20s"
}

target "backend" {
  name  = "^shop-backend-[0-9]+$"
  image = "faultline-shop:dev"
  pick  = 1
}

target "frontend" {
  labels = { "com.docker.compose.service" = "frontend" }
  pick   = "one"
}

fault "kill" "backend_dies" {
  target   = target.backend
  duration = "20s"
  signal   = "SIGKILL"
  restore  = true
}

fault "stop" "backend_drained" {
  target   = target.backend
  start    = "40s"
  duration = "20s"
  grace    = "5s"
}

fault "pause" "backend_frozen" {
  target   = target.backend
  start    = "1m10s"
  duration = "5s"
  every    = "15s"
  times    = 3
}

fault "restart" "frontend_bounce" {
  target  = target.frontend
  start   = "2m"
  timeout = "3s"
}

# The baseline of an error ratio is 0, so the default band (10% of the mean) would be
# empty: say which change counts.
metric "failed_ratio" {
  query     = "sum(rate(loadgen_requests_total{code!=\"200\"}[30s])) / sum(rate(loadgen_requests_total[30s]))"
  tolerance = 0.005
}

metric "p99_latency" {
  query = "histogram_quantile(0.99, sum by (le) (rate(loadgen_request_duration_seconds_bucket[30s])))"
  unit  = "s"
}

check "few_failures" {
  metric = metric.failed_ratio
  below  = 0.01
}

check "latency_recovers" {
  metric         = metric.p99_latency
  below          = 0.3
  during         = ["recovery"]
  recover_within = "30s"
}

abort "outage" {
  metric = metric.failed_ratio
  above  = 0.5
  for    = "10s"
}
