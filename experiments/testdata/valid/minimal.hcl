# The smallest experiment: one target, one fault, defaults for everything else.
experiment "minimal" {
}

target "api" {
  image = "shop:dev"
}

fault "restart" "bounce" {
  target = target.api
}
