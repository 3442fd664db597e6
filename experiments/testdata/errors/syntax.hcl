experiment "broken" {
  baseline = "30s" "60s" # ERROR: Missing newline after argument
}
