server { # ERROR: Missing required argument
  listen    = "7070" # ERROR: Invalid listen address
  data_dir  = ""     # ERROR: Empty data_dir
  time_zone = "Mars/Olympus" # ERROR: Unknown time zone
  public_url = "faultline.example/ui" # ERROR: Invalid public_url
}

server { # ERROR: Duplicate server block
  token_file = "t"
  data_dir   = "d"
}

experiment "inline" { # ERROR: Experiment in a game-day file
}

schedule "ok" {
  experiment = "../valid/pause.hcl"
  cron       = "@hourly"
}
