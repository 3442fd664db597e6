experiment "x" {
  description = "unterminated
}
