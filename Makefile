# openintent-go: common tasks. `make help` lists them.
GO ?= go
OAPI := $(GO) run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen

.PHONY: help generate check-generate test race vet fmt check fuzz bench run quickstart docker lint-spec example-ts example-agents

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

generate: ## regenerate gen/ from api/openapi.yaml
	$(OAPI) -config api/codegen-models.yaml api/openapi.yaml
	$(OAPI) -config api/codegen-client.yaml api/openapi.yaml
	$(OAPI) -config api/codegen-server.yaml api/openapi.yaml
	$(GO) run ./internal/genstubs gen/server/server.gen.go gen/server/unimplemented.gen.go
	$(GO) run ./internal/gensdktypes gen/models/models.gen.go pkg/openintent/models_src.go pkg/openintent/models.gen.go

GENERATED := gen/ pkg/openintent/models.gen.go
check-generate: generate ## fail when gen/ (or the SDK's models.gen.go) is stale
	@git diff --exit-code --stat -- $(GENERATED) || (echo "generated code is stale: run 'make generate' and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- $(GENERATED))" || (git status --porcelain -- $(GENERATED); echo "generated code is not committed: run 'make generate' and commit" >&2; exit 1)

fmt: ## fail when gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || (echo "gofmt needed:"; echo "$$out"; exit 1)

# The LLM adapters are modules of their own (adapters/*/go.mod), outside ./... of the root module.
ADAPTERS := adapters/openai adapters/anthropic

vet: ## go vet (the root module and the LLM adapter modules)
	$(GO) vet ./...
	@for m in $(ADAPTERS); do (cd $$m && $(GO) vet ./...) || exit 1; done

test: ## the full test suite, under the race detector (the server's tests on each kind of store: memory, file, PostgreSQL); needs cgo and a C compiler
	@test "$$($(GO) env CGO_ENABLED)" = 1 || { echo "make test runs under -race, which needs cgo: install a C compiler (gcc) and set CGO_ENABLED=1" >&2; exit 1; }
	$(GO) test -race -count=1 ./...
	@for m in $(ADAPTERS); do (cd $$m && $(GO) test -race -count=1 ./...) || exit 1; done
	OPENINTENT_TEST_STORE=file $(GO) test -race -count=1 ./pkg/server/
	OPENINTENT_TEST_STORE=postgres $(GO) test -race -count=1 ./pkg/server/

check: fmt vet check-generate lint-spec test example-ts ## everything CI runs

FUZZTIME ?= 45s
# Minimizing a new interesting input may take 60 s by default, the whole run, with nothing fuzzed meanwhile.
FUZZMINIMIZETIME ?= 5s
fuzz: ## bounded fuzz runs of every fuzz target (FUZZTIME each)
	$(GO) test -run '^$$' -fuzz '^FuzzJSONHandlers$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./pkg/server/
	$(GO) test -run '^$$' -fuzz '^FuzzSSEReader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./pkg/openintent/

BENCHCOUNT ?= 5
bench: ## benchmarks (BENCHCOUNT runs each, median kept), printed as one table of ratios against their baselines and budgets (issue #5)
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./internal/bench/ | tee bench.out
	$(GO) run ./internal/benchtable < bench.out

run: ## start the server on the embedded file store
	$(GO) run ./cmd/openintent-server

lint-spec: ## lint api/openapi.yaml: Redocly's recommended ruleset and Spectral's spectral:oas, no error or warning (tools/speclint pins them; needs Node.js 20.19+ and npm)
	bash tools/speclint/lint.sh

example-ts: ## start a server on a temporary store and run examples/typescript against it (types generated from the spec, tsc --strict, every answer checked against the spec; needs Node.js 20.19+ and npm)
	bash examples/typescript/run.sh

example-agents: ## run examples/agents: a coordinator and three agents (research -> summarise, pkg/agent) on an embedded server, or on OPENINTENT_URL with OPENINTENT_API_KEY (a service key)
	$(GO) run ./examples/agents

quickstart: ## start a server on a temporary embedded store, run the quickstart example against it, stop
	bash examples/quickstart/run.sh

DOCKER ?= docker
IMAGE ?= openintent-server
docker: ## build the container image (Dockerfile: static binary, non-root, /data volume, health check)
	$(DOCKER) build -t $(IMAGE) .
