# Commons — the two commands a new user needs are `make run` and `make test`.
GO      ?= go
BIN     := bin/commons
DATA    ?= ./data
ADDR    ?= 127.0.0.1:8080
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test bench lint clean soak fuzz wallet-js

build:
	$(GO) build -o $(BIN) ./cmd/commons

## run: build and start the server with the demo city loaded on first start. Petition
## signatures go to the ledger in shuffled batches every 30 s, so that one trying the demo alone
## sees hers land (a real node: every 10 min once 10 are waiting).
run: build
	./$(BIN) serve --data $(DATA) --addr $(ADDR) --demo --signature-batch-every 30s --signature-batch-min 1

## test: every test, with the race detector (end-to-end tests build and run the real binary).
## Eight tests of a package at once: most of them wait on servers, CLIs and browsers they start.
test:
	$(GO) test -race -count=1 -parallel 8 -timeout 15m ./...

## bench: the benchmarks, summarised as ratios against baselines measured in the same run.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 20m ./... | tee bench.out
	$(GO) run ./cmd/benchsummary < bench.out

## soak: a few minutes of residents, gateways, readers and random kill -9 against the real binary
## (a 20 s version runs in `make test`). SOAK sets the duration.
SOAK ?= 3m
soak:
	COMMONS_SOAK=$(SOAK) $(GO) test -race -count=1 -run '^TestSoak$$' -timeout 15m -v ./cmd/commons/

## fuzz: every decoder's fuzz test for FUZZTIME each (their seed corpora run in `make test`).
FUZZTIME ?= 10s
FUZZ := ./ledger:FuzzParseEntry ./ledger:FuzzParseTilePath ./crypto:FuzzVerifyStatement \
	./crypto:FuzzParseWallet ./server:FuzzDecodeStatement ./cmd/commons:FuzzConfigFile \
	./reading:FuzzParseCSV ./reading:FuzzParseArchiveCSV ./reading:FuzzParseJSON \
	./client/gateway:FuzzDecodeReadings ./geo:FuzzParse ./client/device:FuzzParseAirrohr \
	./release:FuzzParseAirDay ./crypto:FuzzCheckSealed
fuzz:
	@set -e; for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$fn ($$pkg)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; done

## wallet-js: rebuild the browser wallet's one script from its npm lockfile (the bundle is
## committed and embedded, so `run` and `test` need no npm; .ci/run checks it is up to date).
WALLET_WEB := dashboards/wallet/web
wallet-js:
	cd $(WALLET_WEB) && npm ci --no-audit --no-fund && npm run --silent build

## lint: gofmt, go.mod/go.sum tidy (go mod tidy -diff prints what tidy would change), vet, staticcheck.
lint:
	@if ! $(GO) mod tidy -diff >/dev/null; then echo "go.mod/go.sum are not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; fi
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin bench.out
