experiment "bad-timing" {
  baseline    = "5 minutes" # ERROR: Invalid duration
  recovery    = 60 # ERROR: Invalid duration
  step        = "100ms" # ERROR: Step too small
  max_targets = -1 # ERROR: Invalid value for max_targets
  labels      = "team=payments" # ERROR: Invalid value for labels
  baselin     = "1m" # ERROR: Unsupported argument
}

experiment "second" { # ERROR: Duplicate experiment block
}

target "db" {
  image = "postgres:16"
}

fault "pause" "freeze_db" {
  target   = target.db
  duration = "2 days" # ERROR: Invalid duration
  start    = "-5s" # ERROR: Invalid duration
}
