experiment "blind" {
}

metric "rps" { # ERROR: Nothing to observe
  query = "sum(rate(http_requests_total[1m]))"
}

metric "empty" {
  query = "  " # ERROR: Empty query
}

metric "rps" { # ERROR: Duplicate metric block
  query = "up"
}

target "api" {
  name = "^shop-api"
}

fault "pause" "api_frozen" {
  target   = target.api
  duration = "30s"
}
