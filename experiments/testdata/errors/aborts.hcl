experiment "guarded" {
  baseline = "30s"
  recovery = "30s"
}

prometheus {
  url = "http://127.0.0.1:9090"
}

metric "errors" {
  query = "sum(rate(http_requests_total{code=~\"5..\"}[30s]))"
}

target "api" {
  name = "^shop-api"
}

fault "pause" "freeze" {
  target   = target.api
  duration = "30s"
}

abort "no_bound" { # ERROR: Abort without condition
  metric = metric.errors
}

abort "always" {
  metric = metric.errors
  above  = 1
  below  = 5 # ERROR: Contradicting conditions
}

abort "banded" {
  metric = metric.errors
  within = [0, 1] # ERROR: Unsupported argument
  above  = 1
}

abort "too_patient" { # ERROR: Abort guard that cannot fire
  metric = metric.errors
  above  = 10
  for    = "5m"
}

abort "wrong_kind" {
  metric = target.api # ERROR: Invalid reference
  above  = 1
}
