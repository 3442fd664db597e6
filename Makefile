# faultline: `make demo` runs the demo, `make test` runs every test.
GO      ?= go
BIN     ?= bin/faultline
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/faultline/faultline/cmd.Version=$(VERSION)

.PHONY: build test test-unit test-kernel lint fuzz bench demo gameday clean

build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Every test: unit tests, the real Docker Engine, a real Prometheus, the host kernel,
# and the kernel sandbox under qemu for netem (skipped with a reason when qemu is
# missing on a laptop; CI sets FAULTLINE_REQUIRE_REAL=1 so nothing skips there).
test: lint test-unit test-kernel

# TestSandbox* need netem and prio: they run under test-kernel, not on the host.
test-unit:
	$(GO) test -race -count=1 -timeout 30m -skip '^TestSandbox' ./...

# netem and prio tests of faults/network as /init of a Debian kernel under qemu; the
# kernel package is fetched once into $XDG_CACHE_HOME/faultline/kernel.
test-kernel:
	$(GO) test -tags sandbox -count=1 -v -timeout 15m -run TestKernelSandbox ./internal/kernelsandbox

fuzz:
	$(GO) test ./experiments -run '^$$' -fuzz FuzzLoad -fuzztime $${FUZZTIME:-60s}

bench:
	bash bench/run.sh

# The demo: the shop on Docker, examples/shop/experiment.hcl observed by faultline's
# embedded Prometheus engine, an HTML report; everything torn down after. UNIT=4 for a
# shorter run, PROMETHEUS_URL=... to evaluate the metrics on a Prometheus server.
demo:
	bash examples/shop/demo.sh

# A game day on the demo shop: faultline serve runs the shop's experiment every 10
# minutes (EVERY=...) and on Run now, at http://127.0.0.1:7070/, until Ctrl-C.
gameday:
	GAMEDAY=1 bash examples/shop/demo.sh

clean:
	rm -rf bin
