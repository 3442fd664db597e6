# ERROR: Missing experiment block # ERROR: No fault

target "db" { # WARNING: Unused target
  image = "postgres:16"
}
