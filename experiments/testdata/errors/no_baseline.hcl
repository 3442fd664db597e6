experiment "instant-start" {
  baseline = "0s"
}

prometheus {
  url = "http://127.0.0.1:9090"
}

metric "rps" {
  query = "sum(rate(http_requests_total[1m]))"
}

target "api" {
  name = "^shop-api"
}

fault "pause" "freeze" {
  target   = target.api
  duration = "30s"
}

check "steady" { # ERROR: max_change without a baseline
  metric     = metric.rps
  max_change = "20%"
}
