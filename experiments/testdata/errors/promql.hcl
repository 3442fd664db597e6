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

metric "range_vector" {
  query = "http_requests_total[1m]" # ERROR: Not an instant query
}

metric "string" {
  query = "\"ok\"" # ERROR: Not an instant query
}

metric "range_phase" {
  query       = "up"
  phase_query = "increase(errors_total[$__phase])[5m:1m]" # ERROR: Not an instant query
}

metric "fine_phase" {
  query       = "up"
  phase_query = "sum(increase(errors_total[$__phase])) / sum(increase(requests_total[$__phase]))"
}

metric "fine" {
  query = format("sum(rate(http_requests_total{job=%q}[1m]))", "shop")
}
