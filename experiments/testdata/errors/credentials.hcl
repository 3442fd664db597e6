experiment "two-credentials" {
}

prometheus { # ERROR: Conflicting Prometheus credentials
  url               = "https://prometheus.internal:9090"
  bearer_token_file = "/run/secrets/prom-token"
  basic_auth {
    username      = "faultline"
    password_file = "/run/secrets/prom-password"
  }
}

metric "rps" {
  query = "sum(rate(http_requests_total[1m]))"
}

target "api" {
  name = "^shop-api"
}

fault "stop" "api_down" {
  target   = target.api
  duration = "30s"
  url      = "http://x" # ERROR: Unsupported argument
}
