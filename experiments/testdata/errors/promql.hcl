# Queries that a Prometheus server would reject, caught at load without one.
experiment "broken-queries" {
}

prometheus {
  url = "http://127.0.0.1:9090"
}

target "api" {
  name = "^api$"
}

fault "pause" "freeze" {
  target   = target.api
  duration = "10s"
}

metric "unclosed" {
  query = "sum(rate(http_requests_total[5m])" # ERROR: Invalid PromQL
}

metric "english_range" {
  query = "rate(http_requests_total[5 minutes])" # ERROR: Invalid PromQL
}

metric "bad_matcher" {
  query = "up{job=shop}" # ERROR: Invalid PromQL
}

metric "fine" {
  query = format("sum(rate(http_requests_total{job=%q}[1m]))", "shop")
}
