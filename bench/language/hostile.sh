#!/usr/bin/env bash
# Time `faultline validate` on files built to hurt a loader (docs/benchmarks-language.md,
# "Hostile files"). Each file is generated here; each run is killed after LIMIT seconds.
# BIN=path runs another build (an older commit, say) on the same files.
set -euo pipefail
cd "$(dirname "$0")/../.."
limit=${LIMIT:-100}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bin=${BIN:-$dir/faultline}
[ -n "${BIN:-}" ] || CGO_ENABLED=0 go build -o "$bin" .

python3 - "$dir" <<'PY'
import random, sys
d = sys.argv[1] + "/"
def write(name, text, mode="w"):
    open(d + name, mode).write(text)
head = 'experiment "x" {}\ntarget "a" { name = "a" }\n'
for n in (4000, 16000):
    write("locals%d.hcl" % n, "locals {\n  l0 = 0\n" + "".join("  l%d = local.l%d + 1\n" % (i, i - 1) for i in range(1, n)) +
          "}\n" + head + 'fault "pause" "p" {\n  target = target.a\n  duration = "${local.l%d}s"\n}\n' % (n - 1))
write("overlaps500.hcl", head + "".join('fault "pause" "p%d" {\n  target   = target.a\n  start    = "%dms"\n  duration = "10s"\n}\n' % (i, i) for i in range(500)))
r = random.Random(1)
write("text100k.hcl", "".join(r.choice(' \t\n\x1b{}[]()"=#abc09.$%') for _ in range(100 << 10)))
write("binary1m.hcl", bytes(r.getrandbits(8) for _ in range(1 << 20)), "wb")
write("deep100k.hcl", "locals {\n  x = " + "[" * 100000 + "]" * 100000 + "\n}\n")
write("brackets1m.hcl", "x = " + "[" * ((1 << 20) - 10) + "\n")
write("plus1m.hcl", "locals {\n x = 1" + "+1" * ((1 << 20) // 2 - 20) + "\n}\n")
mistakes = head + "".join('fault "pause" "p%d" {\n  target   = target.a\n  duration = "%d minutes"\n}\n' % (i, i + 1) for i in range(300))
write("mistakes1m.hcl", mistakes + ("# " + "x" * 76 + "\n") * ((1 << 20) // 80 - 200))
PY

printf "%-16s %10s %10s %10s %s\n" file wall_s cpu_s rss_kb "stdout (last line)"
for f in locals4000 locals16000 overlaps500 text100k binary1m deep100k brackets1m plus1m mistakes1m; do
  # script gives the command a terminal, as a person at one would see it.
  /usr/bin/time -o "$dir/time" -f "%e %U %S %M" timeout -s KILL "$limit" script -qc "$bin validate $dir/$f.hcl" /dev/null >"$dir/out" 2>&1 || true
  read -r wall user sys rss < <(grep -v '^Command' "$dir/time")
  printf "%-16s %10s %10s %10s %s\n" "$f" "$wall" "$(echo "$user + $sys" | bc)" "$rss" "$(tail -c 200 "$dir/out" | tr -d '\r' | grep . | tail -1 | cut -c1-60)"
done
