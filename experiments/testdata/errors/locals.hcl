locals {
  a = local.b # ERROR: Unresolvable local value
  b = local.a # ERROR: Unresolvable local value
  c = shout("x") # ERROR: Call to unknown function
}

locals {
  c = "again" # ERROR: Duplicate local value
}

experiment "never-decoded" {
}
