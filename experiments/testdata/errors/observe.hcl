experiment "observed" {
  step = "2s"
}

target "api" {
  name = "^shop-api"
}

fault "pause" "freeze" {
  target   = target.api
  duration = "30s"
}

scrape "no_targets" { # ERROR: Scrape without targets
}

scrape "both" {
  targets = ["127.0.0.1:9100"]
  target  = target.api # ERROR: Conflicting scrape targets
}

scrape "bad_address" {
  targets  = ["localhost", "127.0.0.1:70000"] # ERROR: Invalid scrape target # ERROR: Invalid scrape target
  path     = "metrics" # ERROR: Invalid scrape path
  timeout  = "5s" # ERROR: Invalid timeout
}

scrape "no_port" {
  target = target.api # ERROR: Missing port
}

scrape "bad_port" {
  target = target.api
  port   = 0 # ERROR: Invalid port
}

scrape "ports_in_list" {
  targets = ["127.0.0.1:9100"]
  port    = 9100 # ERROR: Unsupported argument
}

probe "http" "bad_url" { # ERROR: Invalid probe
  url = "ftp://example"
}

probe "http" "bad_status" {
  url           = "http://127.0.0.1:8080/"
  expect_status = ["600"] # ERROR: Invalid expect_status
}

probe "http" "bad_body" { # ERROR: Invalid probe
  url         = "http://127.0.0.1:8080/"
  expect_body = "(("
}

probe "http" "missing_ca" { # ERROR: Invalid probe
  url = "https://127.0.0.1:8443/"
  tls {
    ca_file = "/nonexistent/ca.pem"
  }
}

probe "tcp" "slow" { # ERROR: Invalid probe
  address  = "127.0.0.1:5432"
  timeout  = "5s"
}

probe "udp" "what" { # ERROR: Unknown probe kind
  address = "127.0.0.1:53"
}

probe "tcp" "bad_address" { # ERROR: Invalid probe
  address = "db"
}

metric "remote" {
  query  = "up"
  source = "prometheus" # ERROR: No Prometheus server
}

metric "elsewhere" {
  query  = "up"
  source = "remote" # ERROR: Invalid source
}

metric "no_phase_var" {
  query       = "up"
  phase_query = "sum(increase(x[5m]))" # ERROR: phase_query without $__phase
}

metric "plain" {
  query = "up"
}

check "phase_without_query" { # ERROR: aggregate = "phase" without a phase_query
  metric    = metric.plain
  aggregate = "phase"
  below     = 1
}
