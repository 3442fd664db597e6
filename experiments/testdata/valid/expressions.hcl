variable "env" {
  default = "staging"
}

variable "ports" {
  type    = list(number)
  default = [80, 443]
}

variable "limits" {
  type = object({ cpus = number, memory = string })
  default = { cpus = 0.5, memory = "256MiB" }
}

locals {
  project = "shop-${var.env}"
  label   = upper(local.project)
  names   = join("|", ["api", "web"])
  seconds = max(10, min(60, 45))
  window  = "${local.seconds}s"
  all_ports = concat(var.ports, [8080])
  tags = merge({ env = var.env }, { owner = lower("SRE") })
}

experiment "expressions" {
  description = format("%s in %s", local.label, title(var.env))
  labels      = local.tags
  baseline    = local.window
  recovery    = "${local.seconds * 2}s"
  step        = "5s"
}

target "front" {
  name            = "^(${local.names})$"
  compose_project = local.project
  pick            = length(var.ports)
}

target "db" {
  labels = { role = "db", env = var.env }
}

fault "resources" "squeeze" {
  target   = target.front
  duration = local.window
  cpus     = var.limits.cpus
  memory   = var.limits.memory
}

fault "delay" "slow" {
  target   = target.front
  start    = "1m"
  duration = "30s"
  latency  = "100ms"
  to       = [target.db, "10.1.2.3", "fd00::/8"]
  ports    = local.all_ports
}
