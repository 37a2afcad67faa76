# Tollgate: the same commands run in README, CI (.ci/run) and on your machine.
PG_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.PHONY: help serve test test-race test-pg lint generate tidy-check bench bench-go fuzz

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

bench: ## HTTP load test: starts a server on a fresh SQLite database, ends with verify
	go run ./cmd/tollgate bench --accounts 1000 --clients 64 --duration 10s

fuzz: ## run each fuzz target for 30s
	go test -run XXX -fuzz FuzzParseCredits -fuzztime 30s .
	go test -run XXX -fuzz FuzzDecodeHold -fuzztime 30s ./httpapi
