server {
  token_file = "token"
  data_dir   = "history"
}

schedule "broken-vars" {
  experiment = "valid/pause.hcl"
  cron       = "@daily"
  vars       = { step = "soon" }
}
