variable "prometheus_url" { # ERROR: No value for required variable
  type = string
}

experiment "needs-a-url" {
}
