# shardflow — the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
STATE := deploy/local/.state

.PHONY: all build up down demo test test-short vet fmt bench bench-e2e bench-micro image clean

all: build

# The version `shardflow version` prints: the nearest tag, commits since it,
# the commit and -dirty (git describe). Without it (a build outside git, or
# plain `go build`) the binary falls back to the module version and the VCS
# stamp Go embeds (runtime/debug.ReadBuildInfo).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := $(if $(VERSION),-X main.version=$(VERSION))

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# Starts (or reuses) the local stack and writes $(STATE)/env.
up:
	deploy/local/up

down:
	deploy/local/down

demo: build
	deploy/local/demo

# Unit and integration tests against the real local services. `up` is
# idempotent: it reuses what already answers and starts what is missing.
# ensure-chromium installs Debian's chromium (once) for the status page's
# headless-browser test.
test: up
	deploy/local/ensure-chromium
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	set -a; . $(STATE)/env; set +a; $(GO) test -race -count=1 -timeout 20m ./...

# Tests that need no local services.
test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# The in-process benchmark table of the processing path (issue #8): about
# 2 minutes on 2 cores. Needs redis-server on PATH for the Redis rows (it
# starts its own, private one). Two processes, so that the shard runs'
# RSS is not the table's.
bench:
	$(GO) run ./bench/cmd/shardbench -only table
	$(GO) run ./bench/cmd/shardbench -only shards

# End-to-end on the local stack (issue #8): 16-shard kinesalite stream,
# producer at 1,000 and 4,000 records/s and flat out, `shardflow run` in
# process; put → Firehose-ack latency and throughput. About 2 minutes.
bench-e2e: up
	set -a; . $(STATE)/env; set +a; $(GO) test -run '^$$' -bench E2E -benchtime 1x -count 1 -timeout 15m ./bench/e2e/

# Every micro-benchmark of the repository (long; some need the local stack).
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Container image (needs a Docker engine; not part of `make test`).
IMAGE ?= shardflow:dev
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

clean:
	rm -rf $(BIN)
