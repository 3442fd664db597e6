experiment "selection" {
  max_targets = 2
}

target "api" {
  name        = "shop-(api" # ERROR: Invalid name pattern
  state       = "runing" # ERROR: Invalid container state
  pick        = "some" # ERROR: Invalid pick
  allow_empty = "perhaps" # ERROR: Invalid value for allow_empty
}

target "web" {
  image = "shop:dev"
  pick  = "150%" # ERROR: Invalid pick
}

target "worker" {
  image = "shop-worker:dev"
  pick  = 0 # ERROR: Invalid pick
}

target "everything" { # ERROR: Target without selector
  pick = "all"
}

target "web" { # ERROR: Duplicate target block
  image = "nginx"
}

target "my db" { # ERROR: Invalid target name
  image = "postgres"
}

target "replicas" { # ERROR: Pick larger than max_targets
  compose_service = "db-replica"
  pick            = 3
}

target "idle" { # WARNING: Unused target
  labels = { role = "idle" }
}

fault "pause" "freeze" {
  target   = target.api
  duration = "10s"
}

fault "pause" "freeze_web" {
  target   = target.web
  duration = "10s"
}

fault "pause" "freeze_worker" {
  target   = target.worker
  duration = "10s"
}

fault "pause" "freeze_all" {
  target   = target.everything
  duration = "10s"
}

fault "pause" "freeze_replicas" {
  target   = target.replicas
  duration = "10s"
}
