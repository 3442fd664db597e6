# ERROR: Missing server block
schedule "s" {
  experiment = "../valid/pause.hcl"
  cron       = "@daily"
}
