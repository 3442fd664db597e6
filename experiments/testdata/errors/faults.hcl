experiment "many-faults" {
}

target "db" {
  image = "postgres:16"
}

target "api" {
  name = "^shop-api-[0-9]+$"
}

fault "delya" "typo_kind" { # ERROR: Unknown fault kind
  target   = target.db
  duration = "10s"
}

fault "delay" "typo_param" {
  target   = target.db
  duration = "10s"
  latency  = "100ms"
  jiter    = "10ms" # ERROR: Unsupported argument
}

fault "delay" "no_latency" { # ERROR: Missing required argument
  target   = target.db
  duration = "10s"
}

fault "loss" "forever" { # ERROR: Missing duration
  target  = target.db
  percent = 10
}

fault "restart" "bounce" {
  target   = target.api
  duration = "30s" # ERROR: Duration of an instant fault
}

fault "pause" "blink" {
  target   = target.api
  duration = "0s" # ERROR: Zero duration
}

fault "stop" "repeat_no_every" {
  target   = target.api
  duration = "10s"
  times    = 3 # ERROR: Repeat without interval
}

fault "stop" "every_no_times" {
  target   = target.api
  duration = "10s"
  every    = "1m" # ERROR: Interval without repeat
}

fault "stop" "overlapping" {
  target   = target.api
  duration = "2m"
  every    = "1m" # ERROR: Overlapping repeats
  times    = 3
}

fault "stop" "never" {
  target   = target.api
  duration = "10s"
  every    = "1m"
  times    = 0 # ERROR: Invalid value for times
}

fault "pause" "ghost" {
  target   = target.cache # ERROR: Reference to undeclared target
  duration = "10s"
}

fault "pause" "by_string" {
  target   = "db" # ERROR: Invalid reference
  duration = "10s"
}

fault "pause" "wrong_kind" {
  target   = metric.db # ERROR: Invalid reference
  duration = "10s"
}

fault "loss" "too_much" {
  target   = target.db
  duration = "10s"
  percent  = 150 # ERROR: Value out of range
}

fault "delay" "too_slow" {
  target   = target.db
  duration = "10s"
  latency  = "2m" # ERROR: Value out of range
}

fault "kill" "bad_signal" {
  target = target.api
  signal = "SIGFOO" # ERROR: Invalid value for signal
}

fault "kill" "bad_restore" {
  target  = target.api
  restore = "maybe" # ERROR: Invalid value for restore
}

fault "resources" "bad_memory" {
  target   = target.api
  duration = "30s"
  memory   = "64q" # ERROR: Invalid value for memory
}

fault "resources" "nothing" { # ERROR: Missing argument
  target   = target.api
  duration = "30s"
}

fault "resources" "tiny_memory" {
  target   = target.api
  duration = "30s"
  memory   = "1m" # ERROR: Value out of range
}

fault "bandwidth" "bytes_not_bits" {
  target   = target.db
  duration = "30s"
  rate     = "1mbps" # ERROR: Invalid value for rate
}

fault "delay" "bad_filters" {
  target   = target.db
  duration = "30s"
  latency  = "50ms"
  to = [
    "10.0.0.300/8", # ERROR: Invalid destination
    target.cache,   # ERROR: Reference to undeclared target
  ]
  ports = [70000] # ERROR: Invalid port
}

fault "partition" "bad_direction" {
  target    = target.api
  duration  = "30s"
  to        = [target.db]
  direction = "ingress" # ERROR: Invalid value for direction
}

fault "partition" "self" {
  target   = target.api
  duration = "30s"
  to       = [target.api] # ERROR: Partition from itself
}

fault "partition" "nowhere" {
  target   = target.api
  duration = "30s"
  to       = [] # ERROR: Empty destination list
}

fault "netem" "reorder_alone" {
  target   = target.db
  duration = "30s"
  reorder  = 25 # ERROR: reorder without latency
}

fault "reorder" "half_gap" {
  target   = target.db
  duration = "30s"
  percent  = 25
  latency  = "10ms"
  gap      = 1.5 # ERROR: Invalid value for gap
}

fault "pause" "typo_kind" { # ERROR: Duplicate fault block
  target   = target.db
  duration = "10s"
}

fault "delay" "bad name" { # ERROR: Invalid fault name
  target   = target.db
  duration = "10s"
  latency  = "10ms"
}

fault "restart" "reapplied_instant" {
  target  = target.db
  reapply = true # ERROR: Nothing to reapply
}

fault "pause" "reapply_word" {
  target   = target.db
  duration = "10s"
  reapply  = "always" # ERROR: Invalid value for reapply
}
