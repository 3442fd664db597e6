experiment "observed" {
}

prometheus {
  url              = "127.0.0.1:9090" # ERROR: Invalid Prometheus URL
  bearer_token     = "s3cr3t" # ERROR: Secret in plain text
  bearer_token_env = "PROM TOKEN" # ERROR: Invalid environment variable name
  timeout          = "0s" # ERROR: Invalid timeout
  headers          = { Authorization = "Bearer abc" } # ERROR: Secret in plain text

  basic_auth {
    username      = "faultline"
    password_file = "/run/secrets/prom-password"
    password      = "hunter2" # ERROR: Secret in plain text
  }

  tls { # ERROR: Incomplete client certificate
    cert_file = "/etc/faultline/client.pem"
  }
}

prometheus { # ERROR: Duplicate prometheus block
  url = "http://127.0.0.1:9090"
}

tls { # ERROR: Misplaced tls block
}

target "api" {
  name = "^shop-api"
}

fault "stop" "api_down" {
  target   = target.api
  duration = "30s"
}
