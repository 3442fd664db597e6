server {
  token_file = "token"
  data_dir   = "history"
}

notify "email" "ops" { # ERROR: Unknown notifier kind
  url_env = "OPS_URL"
}

notify "webhook" "oncall" {
  url_env = "https://hooks.example/123" # ERROR: Invalid environment variable name
  url     = "https://hooks.example/123" # ERROR: Secret in the file
  on      = ["failed", "exploded"] # ERROR: Unknown event
}

notify "webhook" "oncall" { # ERROR: Duplicate notify block
  url_env = "X"
}

notify "webhook" "nourl" { # ERROR: Missing required argument
}
