# CPU squeeze on a worker: the queue workers get a quarter of a core and 128 MiB
# for five minutes. The queue may grow, but it must drain again within two minutes
# of the squeeze ending, and the run stops at once if the backlog explodes.
# Demonstrates: the resources kind (cpus and memory), variables from the
# environment (FAULTLINE_VAR_worker_image), a compose project target with a share
# pick, checks with above and below, and abort guards in both directions.

variable "worker_image" {
  type        = string
  default     = "shop-worker:dev"
  description = "image of the workers to squeeze"
}

variable "cpus" {
  type    = number
  default = 0.25
}

experiment "queue-drains-after-cpu-squeeze" {
  description = "Workers starved of CPU fall behind but catch up after"
  baseline    = "2m"
  recovery    = "3m"
  step        = "10s"
}

prometheus {
  url               = "http://127.0.0.1:9090"
  bearer_token_file = "/run/secrets/prometheus-token"
}

target "workers" {
  image           = var.worker_image
  compose_project = "shop"
  pick            = "30%"
}

fault "resources" "cpu_squeeze" {
  target   = target.workers
  duration = "5m"
  cpus     = var.cpus
  memory   = "128m"
}

metric "queue_depth" {
  query = "sum(queue_messages_ready{queue=\"orders\"})"
  unit  = "messages"
}

metric "throughput" {
  query = "sum(rate(orders_processed_total[1m]))"
  unit  = "orders/s"
}

check "queue_drains" {
  metric         = metric.queue_depth
  below          = 1000
  aggregate      = "max"
  during         = ["recovery"]
  recover_within = "2m"
}

check "still_working" {
  metric    = metric.throughput
  above     = 1
  aggregate = "min"
}

abort "backlog_explodes" {
  metric = metric.queue_depth
  above  = 50000
  for    = "30s"
}

abort "workers_stalled" {
  metric = metric.throughput
  below  = 0.01
  for    = "1m"
}
