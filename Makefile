# Commons — the two commands a new user needs are `make run` and `make test`.
GO      ?= go
BIN     := bin/commons
DATA    ?= ./data
ADDR    ?= 127.0.0.1:8080
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test bench lint clean

build:
	$(GO) build -o $(BIN) ./cmd/commons

## run: build and start the server with the demo city loaded on first start.
run: build
	./$(BIN) serve --data $(DATA) --addr $(ADDR) --demo

## test: every test, with the race detector (end-to-end tests build and run the real binary).
test:
	$(GO) test -race -count=1 -timeout 15m ./...

## bench: the benchmarks, summarised as ratios against baselines measured in the same run.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 20m ./... | tee bench.out
	$(GO) run ./cmd/benchsummary < bench.out

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin bench.out
