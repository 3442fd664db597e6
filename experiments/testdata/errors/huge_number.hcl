# Found by FuzzLoad: turning this number into text took minutes.
experiment "huge" {
  description = "${1e99999999}" # ERROR: Number out of range
}

target "t" {
  image = "x"
  pick  = -1e-99999999 # ERROR: Number out of range
}

fault "pause" "p" {
  target   = target.t
  duration = "${"1e99999999" * 1}s" # ERROR: Number out of range
}
