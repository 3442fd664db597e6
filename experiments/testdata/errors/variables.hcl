variable "replicas" {
  type    = number
  default = "many" # ERROR: Invalid default value for variable
}

variable "replicas" { # ERROR: Duplicate variable block
  default = 3
}

variable "1st" { # ERROR: Invalid variable name
}

variable "region" {
  defualt = "eu" # ERROR: Unsupported argument
}

variable "zones" {
  type = lisst(string) # ERROR: Invalid type specification
}

experiment "never-decoded" {
  baseline = "5 minutes"
}
