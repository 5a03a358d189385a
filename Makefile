# Parley. Two entry points for a fresh Debian 12 machine:
#   make run   install what is missing, build, and start `parley serve`
#   make test  install what is missing and run the whole suite
GO       ?= go
DATA_DIR ?= ./data
BIN      := bin/parley
# -race everywhere; the timeout guards CI's budget.
TESTFLAGS ?= -race -timeout 25m

.PHONY: run test deps build check vet fmt-check bench fuzz clean web

deps:
	@scripts/deps.sh

build: deps web
	$(GO) build -o $(BIN) ./cmd/parley

# The browser's DAVE module (web/davewasm, GOOS=js GOARCH=wasm) and Go's
# JavaScript glue for it, into web/dave/ where the web origin embeds them
# (dave.wasm.gz: what a browser that accepts gzip gets; zopfli makes a
# gzip stream ~4 % smaller than gzip -9, and runs only when the module
# changed). Neither is committed; without them the page runs without E2EE.
web:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o web/dave/dave.wasm.new ./web/davewasm
	@cd web/dave && if [ -f dave.wasm.gz ] && cmp -s dave.wasm.new dave.wasm; then rm dave.wasm.new; else \
	  mv dave.wasm.new dave.wasm && \
	  if command -v zopfli >/dev/null; then echo "zopfli --i5 web/dave/dave.wasm"; zopfli --i5 -c dave.wasm >dave.wasm.gz.tmp; \
	  else echo "gzip -9 web/dave/dave.wasm (zopfli missing: scripts/deps.sh installs it)"; gzip -9 -n -c dave.wasm >dave.wasm.gz.tmp; fi && \
	  mv dave.wasm.gz.tmp dave.wasm.gz; fi
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" web/dave/wasm_exec.js

# --dev: development defaults (the deprecated voice encryption modes that
# discordgo v0.29.0 needs are offered); production runs `parley serve`
# without it. PUBLIC_HOST=name-or-IP lets other machines in (--public-host);
# serve's last line is the URL to open.
run: build
	@echo "make run: parley serve --dev (development defaults; see README, Security)"
	$(BIN) serve --dev --data-dir $(DATA_DIR)$(if $(PUBLIC_HOST), --public-host $(PUBLIC_HOST))

vet: web
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./web/davewasm

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The whole suite: vet, format, unit + interop tests under -race (interop
# tests fail rather than skip when their clients are missing), PostgreSQL
# started for the storage tests, and benchmarks run once as smoke tests.
test: deps web fmt-check vet
	PARLEY_INTEROP=1 scripts/with-postgres.sh $(GO) test $(TESTFLAGS) ./...
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 10m ./sfu/... ./e2ee/...

check: test

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin web/dave/dave.wasm web/dave/dave.wasm.gz web/dave/dave.wasm.new web/dave/dave.wasm.gz.tmp web/dave/wasm_exec.js
