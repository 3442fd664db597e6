experiment "x" {
}

fault "delay" {
}
