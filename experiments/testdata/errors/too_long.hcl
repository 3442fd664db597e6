# Durations and timelines beyond what a run can be. Durations are at most 168h
# (7 days) each, and so is the whole run.
experiment "too-long" {
  baseline = "100h"
  recovery = "9223372036854775807ns" # ERROR: Invalid duration
}

target "db" {
  name = "^db$"
}

fault "pause" "long_freeze" { # ERROR: Experiment too long
  target   = target.db
  duration = "100h"
}

fault "pause" "overflow" {
  target   = target.db
  start    = "99999999999h" # ERROR: Invalid duration
  duration = "10s"
}
