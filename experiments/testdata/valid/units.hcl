experiment "units" {
  baseline = "1m30s"
  recovery = "1h"
  step     = "15s"
}

prometheus {
  url               = "http://127.0.0.1:9090/"
  bearer_token_file = "token"
}

target "a" {
  image = "a:1"
}

fault "bandwidth" "kib" {
  target   = target.a
  duration = "1m"
  rate     = 1000000
  burst    = 1600
  limit    = "1.5k"
}

fault "loss" "pct_string" {
  target   = target.a
  start    = "2m"
  duration = "1m"
  percent  = "12.5%"
}

fault "partition" "one_ip" {
  target   = target.a
  start    = "4m"
  duration = "10s"
  to       = "192.168.1.10"
}

metric "m" {
  query = "up"
}

check "band" {
  metric = metric.m
  above  = 0
  below  = 2
}

abort "immediate" {
  metric = metric.m
  below  = 0.5
}
