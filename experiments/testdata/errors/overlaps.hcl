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

# Two partitions of one target to one destination: the second would find the first's
# blackhole route in place.
fault "partition" "cut_again" { # ERROR: Overlapping faults on one target
  target   = target.db
  start    = "10s"
  duration = "10s"
  to       = ["192.168.0.0/16", "10.0.0.0/8"]
}

# Other destinations of the same target: no conflict.
fault "partition" "cut_other" {
  target   = target.db
  start    = "5s"
  duration = "10s"
  to       = ["172.16.0.0/12", "10.1.0.0/16"]
}

target "cache" {
  name = "^cache$"
}

# Both ways, api loses its route to cache and cache its route back to api ...
fault "partition" "split" {
  target   = target.api
  start    = "60s"
  duration = "10s"
  to       = [target.cache]
}

# ... which this one adds too.
fault "partition" "split_back" { # ERROR: Overlapping faults on one target
  target    = target.cache
  start     = "65s"
  duration  = "10s"
  to        = [target.api]
  direction = "egress"
}
