variable "prometheus_url" {
  default = "http://127.0.0.1:9090"
}

variable "step" {
  default = 2
}

experiment "pause-one" {
  baseline = "2s"
  recovery = "2s"
  step     = "${var.step}s"
}

target "app" {
  name = "^shop-backend"
}

fault "pause" "freeze" {
  target   = target.app
  duration = "2s"
}
