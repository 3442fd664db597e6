# Faults that take over the same thing on one target at the same time.
experiment "overlaps" {
  baseline = "30s"
  recovery = "30s"
}

target "db" {
  name = "^db$"
}

target "api" {
  name = "^api$"
}

fault "delay" "slow" {
  target   = target.db
  duration = "30s"
  latency  = "100ms"
}

fault "loss" "lossy" { # ERROR: Overlapping faults on one target
  target   = target.db
  start    = "10s"
  duration = "30s"
  percent  = 10
}

# Back to back is fine: the bandwidth cap starts when the loss ends.
fault "bandwidth" "thin" {
  target   = target.db
  start    = "40s"
  duration = "10s"
  rate     = "1mbit"
}

# A partition holds no qdisc: it may overlap a netem fault.
fault "partition" "cut" {
  target   = target.db
  start    = "5s"
  duration = "10s"
  to       = ["10.0.0.0/8"]
}

fault "pause" "freeze" {
  target   = target.api
  duration = "20s"
}

fault "restart" "bounce" { # ERROR: Overlapping faults on one target
  target = target.api
  start  = "15s"
}

# Another target: no conflict.
fault "pause" "freeze_db" {
  target   = target.db
  duration = "20s"
}

fault "resources" "squeeze" {
  target   = target.api
  duration = "20s"
  every    = "30s"
  times    = 2
  cpus     = 0.5
}

fault "resources" "squeeze_more" { # ERROR: Overlapping faults on one target
  target   = target.api
  start    = "35s"
  duration = "10s"
  memory   = "64m"
}
