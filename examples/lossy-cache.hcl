# Lossy network to a cache: the API loses, duplicates and corrupts some of the
# packets it sends to the Redis cache, and must fall back to the database without
# its error ratio growing by more than a quarter.
# Demonstrates: the loss, duplicate and corrupt kinds, destination filters by
# target reference and port range, a typed list variable, locals with functions,
# within bands, aggregates, and basic_auth with a password file.

variable "cache_ports" {
  type    = list(string)
  default = ["6379", "26379-26380"]
}

variable "loss_percent" {
  type    = number
  default = 20
}

locals {
  service = "api"
  rate_window = "1m"
}

experiment "api-tolerates-lossy-cache" {
  description = format("The %s answers within its SLO while %d%% of its cache traffic is lost", local.service, var.loss_percent)
  labels      = { team = "platform", scenario = "lossy-cache" }
  baseline    = "1m"
  recovery    = "1m"
  step        = "5s"
}

prometheus {
  url = "https://prometheus.internal:9090"
  basic_auth {
    username      = "faultline"
    password_file = "/run/secrets/prometheus-password"
  }
  tls {
    ca_file     = "/etc/faultline/prometheus-ca.pem"
    server_name = "prometheus.internal"
  }
  headers = { "X-Scope-OrgID" = "chaos" }
}

target "api" {
  compose_project = "shop"
  compose_service = local.service
  pick            = "50%"
}

target "cache" {
  compose_project = "shop"
  compose_service = "redis"
}

fault "loss" "cache_packets_dropped" {
  target      = target.api
  duration    = "2m"
  percent     = var.loss_percent
  correlation = 25
  to          = [target.cache]
  ports       = var.cache_ports
}

fault "duplicate" "cache_packets_doubled" {
  target   = target.api
  start    = "2m30s"
  duration = "1m"
  percent  = "5%"
  to       = [target.cache]
}

fault "corrupt" "cache_packets_mangled" {
  target   = target.api
  start    = "4m"
  duration = "1m"
  percent  = 1
  to       = [target.cache]
  ports    = [6379]
}

metric "error_ratio" {
  query       = "sum(rate(http_requests_total{service=\"${local.service}\",code=~\"5..\"}[${local.rate_window}])) / sum(rate(http_requests_total{service=\"${local.service}\"}[${local.rate_window}]))"
  description = "share of API answers that are server errors"
}

metric "cache_hit_ratio" {
  query = "sum(rate(cache_hits_total[1m])) / sum(rate(cache_requests_total[1m]))"
}

check "errors_barely_move" {
  metric     = metric.error_ratio
  max_change = "25%"
  aggregate  = "p95"
}

check "cache_still_useful" {
  metric    = metric.cache_hit_ratio
  within    = [0.5, 1]
  aggregate = "mean"
  during    = ["fault"]
}
