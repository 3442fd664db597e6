# A partition between two services: the checkout service cannot reach payments (and
# payments cannot answer it) for a minute, twice. Checkout must fail fast and
# serve its fallback, so its latency stays bounded while its payment success
# ratio falls and comes back.
# Demonstrates: the partition kind with both directions and CIDRs, repeated
# partitions, the all pick and state selectors, during with the baseline phase,
# and a check that the metric recovers.

experiment "checkout-fails-fast-without-payments" {
  description = "Checkout degrades gracefully when payments is unreachable"
  baseline    = "1m"
  recovery    = "2m"
  step        = "5s"
}

prometheus {
  url = "http://127.0.0.1:9090"
}

target "checkout" {
  compose_service = "checkout"
  state           = "running"
  pick            = "all"
}

target "payments" {
  compose_service = "payments"
  allow_empty     = false
}

fault "partition" "checkout_payments_split" {
  target    = target.checkout
  duration  = "1m"
  every     = "3m"
  times     = 2
  to        = [target.payments]
  direction = "both"
}

fault "partition" "no_external_psp" {
  target    = target.payments
  start     = "30s"
  duration  = "30s"
  to        = ["203.0.113.0/24", "198.51.100.7"]
  direction = "egress"
}

metric "checkout_p95" {
  query = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"checkout\"}[30s])))"
  unit  = "s"
}

metric "payment_success" {
  query = "sum(rate(payments_total{outcome=\"ok\"}[30s])) / sum(rate(payments_total[30s]))"
}

check "fails_fast" {
  metric    = metric.checkout_p95
  below     = 1.5
  aggregate = "p95"
  during    = ["baseline", "fault", "recovery"]
}

check "payments_come_back" {
  metric         = metric.payment_success
  above          = 0.99
  during         = ["recovery"]
  recover_within = "1m"
}
