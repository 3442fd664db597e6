experiment "coarse" { # ERROR: Step longer than the baseline
  baseline = "10s"
  step     = "30s"
}

target "cache" {
  compose_service = "redis"
}

fault "restart" "bounce" {
  target = target.cache
}
