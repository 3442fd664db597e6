experiment "judged" {
  recovery = "60s"
}

prometheus {
  url = "http://127.0.0.1:9090"
}

metric "p99" {
  query = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[30s])))"
  unit  = "s"
}

target "api" {
  name = "^shop-api"
}

fault "pause" "freeze" {
  target   = target.api
  duration = "30s"
}

check "nothing" { # ERROR: Check without condition
  metric = metric.p99
}

check "impossible" {
  metric = metric.p99
  below  = 0.2 # ERROR: Contradicting conditions
  above  = 0.5
}

check "backwards_band" {
  metric = metric.p99
  within = [0.5, 0.1] # ERROR: Empty band
}

check "both_styles" {
  metric = metric.p99
  within = [0.1, 0.5] # ERROR: Conflicting conditions
  below  = 0.4
}

check "bad_phase" {
  metric = metric.p99
  below  = 0.5
  during = ["fault", "recovry"] # ERROR: Unknown phase
}

check "twice" {
  metric = metric.p99
  below  = 0.5
  during = ["fault", "fault"] # ERROR: Duplicate phase
}

check "bad_aggregate" {
  metric    = metric.p99
  below     = 0.5
  aggregate = "median" # ERROR: Invalid aggregate
}

check "negative_change" {
  metric     = metric.p99
  max_change = "-5%" # ERROR: Invalid value for max_change
}

check "change_in_baseline" {
  metric     = metric.p99
  max_change = "50%" # ERROR: max_change during the baseline
  during     = ["baseline", "fault"]
}

check "recovery_unseen" {
  metric         = metric.p99
  below          = 0.5
  during         = ["fault"]
  recover_within = "30s" # ERROR: recover_within without the recovery phase
}

check "slow_recovery" {
  metric         = metric.p99
  below          = 0.5
  recover_within = "5m" # ERROR: recover_within longer than the recovery phase
}

check "unknown_metric" {
  metric = metric.p95 # ERROR: Reference to undeclared metric
  below  = 0.5
}

check "with_for" {
  metric = metric.p99
  below  = 0.5
  for    = "10s" # ERROR: Unsupported argument
}

check "no_metric" { # ERROR: Missing required argument
  below = 0.5
}

check "string_bound" {
  metric = metric.p99
  below  = "fast" # ERROR: Invalid value for below
}

metric "tolerance_negative" {
  query     = "up"
  tolerance = -0.1 # ERROR: Invalid value for tolerance
}

metric "tolerance_not_percent" {
  query     = "up"
  tolerance = "20 percent" # ERROR: Invalid value for tolerance
}

metric "tolerance_list" {
  query     = "up"
  tolerance = [1] # ERROR: Invalid value for tolerance
}
