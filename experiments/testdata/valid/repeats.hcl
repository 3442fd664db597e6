experiment "repeats" {
  baseline = "10s"
  recovery = "10s"
  step     = "1s"
}

target "api" {
  name = "^api"
}

fault "stop" "flap" {
  target   = target.api
  duration = "5s"
  every    = "10s"
  times    = 5
  grace    = "0s"
  reapply  = true
}

fault "kill" "sighup" {
  target  = target.api
  start   = "1m"
  signal  = 1
  restore = false
}

fault "kill" "term_by_name" {
  target = target.api
  start  = "70s"
  signal = "term"
}
