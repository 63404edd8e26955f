# Hearth: `make demo` to try it, `make test` to check everything.
SHELL := /bin/bash
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
DIST := web/dist
WASM := $(DIST)/hearth.wasm
GO_SOURCES := $(shell find . -name '*.go' -not -path './node_modules/*') go.mod go.sum
ADDR ?= 127.0.0.1:8080

.PHONY: all build wasm server demo test test-go test-js test-e2e vet bench bench-go bench-browser clean

all: build

build: wasm server

# The worker bundle, its precompressed variants and Go's loader.
wasm: $(WASM).br $(DIST)/wasm_exec.js

$(WASM): $(GO_SOURCES)
	@mkdir -p $(DIST)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o $@ ./wasm

$(WASM).br: $(WASM)
	gzip -9 -k -f $(WASM)
	brotli -q 9 -f -o $@ $(WASM)

$(DIST)/wasm_exec.js: $(GOROOT)/lib/wasm/wasm_exec.js
	@mkdir -p $(DIST)
	cp $< $@

server: bin/hearth

bin/hearth: $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/hearth

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

demo: build
	./bin/hearth serve -addr $(ADDR) -web web

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/... ./sqlitevfs/... ./syncworker/... ./client/...

test-go:
	$(GO) test -count=1 ./...

test-js: node_modules/.package-lock.json
	node --test web/

test-e2e: build node_modules/.package-lock.json
	node --test --test-concurrency=1 e2e/

test: vet test-go test-js test-e2e

bench: bench-go bench-browser

bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./... 2>/dev/null | grep -E '^(Benchmark|ok|PASS)' || true
	$(GO) test -run '^$$' -bench . -benchmem ./wasm/... ./sqlitevfs/...

bench-browser: build node_modules/.package-lock.json
	node e2e/bench/run.mjs

clean:
	rm -rf $(DIST) bin
