# No prometheus block: the embedded store scrapes, probes, and evaluates every metric.
experiment "embedded" {
  step            = "1s"
  scrape_labelled = true
}

target "api" {
  labels = { "app" = "shop" }
}

scrape "node" {
  targets  = ["127.0.0.1:9100", "[::1]:9100"]
  interval = "2s"
}

scrape "shop" {
  target  = target.api
  port    = 8080
  path    = "/metrics"
  network = "shop"
  timeout = "500ms"
}

probe "http" "checkout" {
  url           = "http://127.0.0.1:8080/checkout"
  method        = "POST"
  headers       = { "Content-Type" = "application/json" }
  body          = "{}"
  expect_status = ["200-299", "404"]
  expect_body   = "\"ok\":true"
  timeout       = "1s"
  interval      = "2s"
  tls {
    insecure = true
  }
}

probe "tcp" "db" {
  address = "127.0.0.1:5432"
}

fault "pause" "freeze" {
  target   = target.api
  duration = "10s"
}

metric "errors" {
  query       = "sum(rate(http_requests_total{code=~\"5..\"}[5s]))"
  phase_query = "sum(increase(http_requests_total{code=~\"5..\"}[$__phase])) / sum(increase(http_requests_total[$__phase]))"
}

metric "checkout_up" {
  query  = "avg_over_time(faultline_probe_success{probe=\"checkout\"}[10s])"
  source = "local"
}

check "few_errors" {
  metric    = metric.errors
  aggregate = "phase"
  below     = 0.05
}
