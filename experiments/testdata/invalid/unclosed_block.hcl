experiment "x" {
  baseline = 
