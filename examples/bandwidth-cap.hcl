# A bandwidth cap: the link from the image service to its clients is squeezed to
# 2 Mbit/s, then its packets are reordered and rate-limited inside netem, then a
# combined netem impairment hits it. Pages must still load, more slowly.
# Demonstrates: the bandwidth (tbf), reorder, rate and netem kinds, burst and limit
# sizes, the interface parameter, a -var-file friendly variable, and no metrics
# at all: a plan-only experiment needs no prometheus block.

variable "cap" {
  default = "2mbit"
}

experiment "pages-load-on-a-thin-link" {
  description = "The image service under a bandwidth cap and a degraded link"
  baseline    = "30s"
  recovery    = "30s"
}

target "images" {
  name = "^shop-images"
}

fault "bandwidth" "thin_link" {
  target    = target.images
  duration  = "2m"
  rate      = var.cap
  burst     = "32k"
  limit     = "64k"
  interface = "eth0"
}

fault "reorder" "shuffled" {
  target      = target.images
  start       = "2m30s"
  duration    = "1m"
  percent     = 25
  correlation = 50
  latency     = "10ms"
  gap         = 5
}

fault "rate" "netem_rate" {
  target   = target.images
  start    = "4m"
  duration = "1m"
  rate     = "512kbit"
  ports    = ["8080", "8443"]
}

fault "netem" "bad_wifi" {
  target    = target.images
  start     = "5m30s"
  duration  = "1m"
  latency   = "80ms"
  jitter    = "40ms"
  loss      = 3
  duplicate = 1
  corrupt   = 0.5
  reorder   = 10
  rate      = "5mbit"
}
