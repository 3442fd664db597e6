server {
  listen     = "127.0.0.1:7070"
  token_file = "token"
  data_dir   = "history"
  time_zone  = "Europe/Berlin"
  public_url = "https://faultline.example/"
}

schedule "checkout-weekly" {
  experiment = "pause.hcl"
  cron       = "0 10 * * TUE"
  jitter     = "30m"
  only {
    days  = ["mon-fri"]
    hours = "09:00-16:00"
  }
  never {
    from = "2026-12-20"
    to   = "2027-01-05"
  }
  never {
    from = "2026-06-01 18:00"
    to   = "2026-06-02 06:00"
  }
  vars   = { prometheus_url = "http://prom:9090", step = 1 }
  missed = "run_once"

  max_score_drop        = 5
  max_recovery_increase = "1m"
}

schedule "nightly" {
  experiment = "pause.hcl"
  cron       = "@daily"
}

notify "webhook" "oncall" {
  url_env    = "ONCALL_WEBHOOK_URL"
  secret_env = "ONCALL_WEBHOOK_SECRET"
  on         = ["failed", "aborted", "regressed", "revert_failed"]
}
