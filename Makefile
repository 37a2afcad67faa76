# Tollgate: the same commands run in README, CI (.ci/run) and on your machine.
PG_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.PHONY: help serve test test-race test-pg lint generate tidy-check bench bench-pg bench-videos bench-go fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

serve: ## run the server on ./data (SQLite)
	go run ./cmd/tollgate serve

test: ## run every test (PostgreSQL ones too when TOLLGATE_TEST_DATABASE_URL is set)
	go test ./...

test-race: ## run every test with the race detector
	go test -race ./...

test-pg: ## run every test against the local PostgreSQL as well
	TOLLGATE_TEST_DATABASE_URL='$(PG_URL)' go test ./...

lint: ## gofmt, go vet, golangci-lint (errcheck, bodyclose, sqlclosecheck, staticcheck...: .golangci.yml)
	@test -z "$$(gofmt -l .)" || (gofmt -l . && echo 'run gofmt -w .' && exit 1)
	go vet ./...
	GOFLAGS= go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...

generate: ## regenerate generated files (none are generated today)
	go generate ./...

tidy-check: ## fail if go.mod or go.sum are not tidy
	go mod tidy && git diff --exit-code go.mod go.sum

bench-go: ## in-process ledger benchmarks on SQLite and PostgreSQL (batched vs naive)
	TOLLGATE_TEST_DATABASE_URL='$(PG_URL)' go test -run XXX -bench Ledger -benchtime 100000x ./ledger

BENCH_FLAGS ?= --accounts 1000 --clients 64 --duration 10s --baseline --open-loop 500

bench: ## HTTP load test on a fresh SQLite database, beside the naive baseline, with an open loop; ends with verify
	go run ./cmd/tollgate bench $(BENCH_FLAGS)

bench-pg: ## the same on PostgreSQL (PG_URL), in a new schema dropped afterwards
	@schema=bench_$$(date +%s); psql '$(PG_URL)' -qc "create schema $$schema" && \
	go run ./cmd/tollgate bench $(BENCH_FLAGS) --database-url '$(PG_URL)&search_path='$$schema; rc=$$?; \
	psql '$(PG_URL)' -qc "set client_min_messages = warning; drop schema $$schema cascade"; exit $$rc

bench-videos: ## video creates on SQLite: an open loop at 100 a second, then saturation
	go run ./cmd/tollgate bench --videos --accounts 1000 --clients 64 --duration 10s

fuzz: ## run each fuzz target for 30s
	go test -run XXX -fuzz FuzzParseCredits -fuzztime 30s .
	go test -run XXX -fuzz FuzzDecodeHold -fuzztime 30s ./httpapi
