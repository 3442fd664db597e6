# Repeats within a week, but each fault repeated as often as it may be: a plan
# holds at most 100000 injections.
experiment "busy" {
  baseline = "10s"
  recovery = "10s"
}

target "db" {
  name = "^db$"
}

fault "kill" "k0" {
  target = target.db
  every  = "1m"
  times  = 10000
}

fault "kill" "k1" {
  target = target.db
  every  = "1m"
  times  = 10000
}

fault "kill" "k2" {
  target = target.db
  start  = "2s"
  every  = "1m"
  times  = 10000
}

fault "kill" "k3" {
  target = target.db
  start  = "3s"
  every  = "1m"
  times  = 10000
}

fault "kill" "k4" {
  target = target.db
  start  = "4s"
  every  = "1m"
  times  = 10000
}

fault "kill" "k5" {
  target = target.db
  start  = "5s"
  every  = "1m"
  times  = 10000
}

fault "kill" "k6" {
  target = target.db
  start  = "6s"
  every  = "1m"
  times  = 10000
}

fault "kill" "k7" {
  target = target.db
  start  = "7s"
  every  = "1m"
  times  = 10000
}

fault "kill" "k8" {
  target = target.db
  start  = "8s"
  every  = "1m"
  times  = 10000
}

fault "kill" "k9" {
  target = target.db
  start  = "9s"
  every  = "1m"
  times  = 10000
}

fault "kill" "k10" { # ERROR: Too many injections
  target = target.db
  start  = "10s"
  every  = "1m"
  times  = 10000
}
