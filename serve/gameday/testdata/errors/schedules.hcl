server {
  token_file = "token"
  data_dir   = "history"
}

schedule "bad-cron" {
  experiment = "../valid/pause.hcl"
  cron       = "0 25 * * *" # ERROR: Invalid cron expression
}

schedule "six-fields" {
  experiment = "../valid/pause.hcl"
  cron       = "0 0 10 * * *" # ERROR: Invalid cron expression
}

schedule "zoned" {
  experiment = "../valid/pause.hcl"
  cron       = "CRON_TZ=UTC 0 10 * * *" # ERROR: Invalid cron expression
}

schedule "missing" {
  experiment = "no-such-file.hcl" # ERROR: Cannot read experiment file
  cron       = "@daily"
  jitter     = "30" # ERROR: Invalid duration
  missed     = "catch_up" # ERROR: Invalid missed policy
}

schedule "limits" {
  experiment            = "../valid/pause.hcl"
  cron                  = "@daily"
  max_score_drop        = 120 # ERROR: Invalid max_score_drop
  max_recovery_increase = "-5s" # ERROR: Invalid duration
}

schedule "windows" {
  experiment = "../valid/pause.hcl"
  cron       = "@daily"
  only {
    days  = ["mon-fry"] # ERROR: Invalid days
    hours = "22:00-02:00" # ERROR: Invalid hours
  }
  only { # ERROR: Duplicate only block
    days = ["sat"]
  }
  never { # ERROR: Invalid blackout window
    from = "2027-01-05"
    to   = "2026-12-20"
  }
  never { # ERROR: Invalid blackout window
    from = "christmas"
    to   = "2026-12-20"
  }
}

schedule "empty-only" {
  experiment = "../valid/pause.hcl"
  cron       = "@daily"
  only { # ERROR: Empty only block
  }
  vars = ["a"] # ERROR: Invalid value for vars
}

schedule "windows" { # ERROR: Duplicate schedule block
  experiment = "../valid/pause.hcl"
  cron       = "@daily"
}

schedule "has space" { # ERROR: Invalid schedule name
  experiment = "../valid/pause.hcl"
  cron       = "@daily"
}

schedule "no-cron" { # ERROR: Missing required argument
  experiment = "../valid/pause.hcl"
}
