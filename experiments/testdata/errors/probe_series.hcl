# Probes write their series to the embedded store only: a metric that selects them on
# the prometheus block's server would get no data.
experiment "probes_on_a_server" {}

prometheus {
  url = "http://127.0.0.1:9090"
}

target "api" {
  name = "^shop-api"
}

fault "pause" "freeze" {
  target   = target.api
  duration = "30s"
}

probe "http" "checkout" {
  url = "http://127.0.0.1:8080/checkout"
}

metric "default_source" {
  query = "avg_over_time(faultline_probe_success{probe=\"checkout\"}[10s])" # WARNING: Probe series on the Prometheus server
}

metric "server" {
  query  = "max(faultline_probe_duration_seconds)" # WARNING: Probe series on the Prometheus server
  source = "prometheus"
}

metric "by_regex" {
  query = "count({__name__=~\"faultline_probe_.+\", probe=\"checkout\"})" # WARNING: Probe series on the Prometheus server
}

metric "phase" {
  query       = "up"
  phase_query = "avg_over_time(faultline_probe_success[$__phase])" # WARNING: Probe series on the Prometheus server
}

metric "local" {
  query  = "avg_over_time(faultline_probe_success{probe=\"checkout\"}[10s])"
  source = "local"
}

# Not probe series: another name, the name only in a label, other names by regex.
metric "server_series" {
  query = "sum(rate(http_requests_total{job=\"faultline_probe_success\"}[30s])) + sum(faultline_probe_successes)"
}

metric "other_regex" {
  query = "count({__name__=~\"http_.+\"})"
}
