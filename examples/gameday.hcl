# A game day: faultline serve runs the shop's experiments on schedules, keeps every
# result, shows them at http://127.0.0.1:7070 and exposes its own /metrics.
#
#   openssl rand -hex 32 > examples/serve-token && chmod 600 examples/serve-token
#   ONCALL_WEBHOOK_URL=https://... bin/faultline serve examples/gameday.hcl
#
# Relative paths are read from this file's directory.

server {
  listen     = "127.0.0.1:7070" # loopback unless you say otherwise
  token_file = "serve-token"    # guards every change: run now, pause, HALT
  data_dir   = "serve-history"  # result.json, report.html and log of every run, and the index
  time_zone  = "Europe/Berlin"  # of the cron expressions, the hours and the dates
}

# The killed replica every Tuesday morning, at a random moment in the half hour after
# ten, never outside business hours and never over the holidays.
schedule "replica-loss-weekly" {
  experiment = "killed-replica.hcl"
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
  missed = "skip" # a start missed while serve was down is recorded as skipped
}

# The slow database every working day at two, with the Prometheus the team runs.
schedule "slow-db-daily" {
  experiment = "slow-database.hcl"
  cron       = "0 14 * * 1-5"
  vars       = { prometheus_url = "http://127.0.0.1:9090" }
  missed     = "run_once" # after a restart, run once if a start was missed
}

notify "webhook" "oncall" {
  url_env    = "ONCALL_WEBHOOK_URL"    # the URL is a secret: it stays in the environment
  # secret_env = "ONCALL_WEBHOOK_SECRET" # to sign each body with HMAC-SHA256
  on         = ["failed", "aborted", "interrupted", "regressed", "revert_failed"]
}
