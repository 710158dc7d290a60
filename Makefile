# trustd build, test and tooling entry points. Tools are installed at pinned
# versions into bin/ (git-ignored) and reused.

GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/trustd-dev/trustd/internal/version.Version=$(VERSION)

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION       := v2.34.0
STATICCHECK_VERSION        := v0.8.2

# Tool binaries carry their version in a stamp file so a version bump
# reinstalls them.
BUF                := $(BIN)/buf
PROTOC_GEN_GO      := $(BIN)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(BIN)/protoc-gen-go-grpc
PROTOC_GEN_GATEWAY := $(BIN)/protoc-gen-grpc-gateway
PROTOC_GEN_OPENAPI := $(BIN)/protoc-gen-openapiv2
STATICCHECK        := $(BIN)/staticcheck

.PHONY: all build image run test test-go test-differential bench bench-digest bench-load bench-lookup bench-verify bench-online-verify bench-tuf-bins bench-attest bench-feedback bench-revocation bench-flood bench-get bench-write bench-write-durable proto proto-check lint tools fuzz clean

all: build

build: ## Build trustd and trustctl into bin/
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/trustd ./cmd/trustd
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/trustctl ./cmd/trustctl

# The release image: a static trustd on an empty base, built without a
# container daemon or a base image download (internal/cmd/mkimage), written
# to $(IMAGE_DIR) as an OCI layout and a docker/podman-loadable tarball;
# PUSH=HOST[:PORT]/REPO:TAG also pushes it. Timestamps are the commit's, so
# a rebuild of the same commit gives the same digest.
IMAGE_DIR         ?= $(BIN)/image
IMAGE_TAG         ?= trustd:$(VERSION)
PUSH              ?=
REVISION          ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

image: ## Build the release OCI image into $(IMAGE_DIR) (PUSH=REF pushes it)
	mkdir -p $(IMAGE_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -s -w' -o $(IMAGE_DIR)/trustd ./cmd/trustd
	rm -rf $(IMAGE_DIR)/oci
	$(GO) run ./internal/cmd/mkimage --binary $(IMAGE_DIR)/trustd \
	  $$(test -f /etc/ssl/certs/ca-certificates.crt && echo --ca-bundle /etc/ssl/certs/ca-certificates.crt) \
	  --version $(VERSION) --revision '$(REVISION)' --created $(SOURCE_DATE_EPOCH) \
	  --oci-layout $(IMAGE_DIR)/oci --tarball $(IMAGE_DIR)/trustd.tar --tag $(IMAGE_TAG) $(if $(PUSH),--push $(PUSH))

run: ## Run trustd on the embedded SQLite default
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/trustd $(ARGS)

test: ## Run every test, against a throwaway PostgreSQL that is removed afterwards
	scripts/test-deps.sh
	scripts/with-postgres.sh $(MAKE) --no-print-directory test-go

test-go:
	$(GO) test -count=1 -timeout 20m $(TESTFLAGS) ./...

test-differential: ## The differential test's long run: 20 seeds x 200 steps on SQLite and a throwaway PostgreSQL, 4 seeds at a time (they wait on token expiries)
	scripts/with-postgres.sh env TRUSTD_DIFF_SEEDS=$${TRUSTD_DIFF_SEEDS:-20} TRUSTD_DIFF_STEPS=$${TRUSTD_DIFF_STEPS:-200} \
	  $(GO) test -count=1 -timeout 30m -parallel 4 -run '^TestDifferential$$' ./server

bench: ## One summary table of the main benchmarks (submit, votes, lookup, reputation, verified-only, token verify) beside the same run's ceilings (gRPC echo, pgbench -S, COPY) and the cluster's durability settings; ARGS=-quick for a shorter run
	scripts/with-postgres.sh $(GO) run ./internal/benchsummary $(ARGS)

bench-digest:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 3 ./digest
	scripts/bench-digest.sh

bench-load:
	scripts/bench-load.sh $(ARGS)

bench-lookup: ## Evidence lookup by digest (GetEvidence, GetSubject) at concurrency 16 on PostgreSQL with 1,000,000 subjects and their evidence, beside echo and pgbench -S: machine CPU per lookup and p99 against the ceilings
	scripts/bench-load.sh -subjects $${SUBJECTS:-1000000} -evidence -targets echo,evidence,trustd,pgbench -conns shared $(ARGS)

bench-verify: ## Deploy verification: offline verify wall time (1 KiB, 1 GiB vs openssl), tokens/s
	scripts/bench-verify.sh

bench-online-verify: ## Online trustctl verify (one GetEvidence call) of a 1 KiB file against 100,000 subjects vs offline verify with a token
	$(GO) test -run '^$$' -bench OnlineVerify -benchtime 21x -timeout 20m ./integration

bench-tuf-bins: ## Publish into 1,024 hashed bins of 102,400 targets on PostgreSQL; serve timestamp.json
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench BenchmarkHashedBinPublishPostgres -benchtime 100x ./tufstore

bench-attest: ## Attestation ingest rates and list latency over 1M attestations, on PostgreSQL
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench Ingest -benchtime 3000x ./attest
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench ListByDigest -benchtime 20000x -timeout 30m ./attest

bench-feedback: ## Feedback benchmarks on a throwaway PostgreSQL (the global one seeds 10M votes: minutes)
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench 'VoteSubmit/postgres' -benchtime 20000x ./feedback
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench ReputationWebOfTrust -benchtime 300x ./feedback
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench ReputationGlobal -benchtime 5000x -timeout 40m ./feedback

WRITE_N ?= 20000

bench-write: ## Signed statements and votes accepted/s at concurrency 16 on SQLite (synchronous=FULL) and on a PostgreSQL with fsync off, each PostgreSQL figure beside the same cluster's pgbench single-row inserts (16 clients) and its statements per entry (WRITE_N entries)
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench 'BenchmarkSubmit$$' -benchtime $(WRITE_N)x ./statement
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench 'VoteSubmit' -benchtime $(WRITE_N)x ./feedback

bench-write-durable: ## bench-write on a durable PostgreSQL (fsync, synchronous_commit and full_page_writes on): accepted/s and its ratio to pgbench on the same cluster
	TRUSTD_PG_DURABLE=1 scripts/with-postgres.sh $(GO) test -run '^$$' -bench 'BenchmarkSubmit/postgres' -benchtime $(WRITE_N)x ./statement
	TRUSTD_PG_DURABLE=1 scripts/with-postgres.sh $(GO) test -run '^$$' -bench 'VoteSubmit/postgres' -benchtime $(WRITE_N)x ./feedback

bench-revocation: ## Offline revocation cache check at 1M; full list (1M) and delta (1,000) sync on PostgreSQL
	$(GO) test -run '^$$' -bench 'CacheCheck1M' -benchtime 2s ./revocation
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench 'FullListDownload1M|DeltaSync1000' -benchtime 3x -timeout 30m ./server

bench-get: ## trustctl get of a 1 GiB artifact by sha512 from a loopback https mirror vs curl | sha512sum: wall-time ratio and peak RSS against the ceilings (BENCH_GET_MIB, BENCH_RUNS)
	scripts/test-deps.sh
	$(GO) test -run '^$$' -bench BenchmarkGet -benchtime 1x -timeout 30m ./integration

bench-flood: ## 1,000 concurrent lookups against the real trustd on SQLite and PostgreSQL: shed p99 beside its ceiling
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench LookupFlood -benchtime 1x -timeout 10m ./integration

fuzz: ## Run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; \
	  done; \
	done

proto: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(PROTOC_GEN_GATEWAY) $(PROTOC_GEN_OPENAPI) ## Regenerate Go code from proto/
	$(BUF) lint
	$(BUF) generate

proto-check: proto ## Fail when committed generated code is stale
	@git diff --exit-code -- proto/ || { echo "generated code in proto/ is stale: run 'make proto' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- proto/)" || { git status --porcelain -- proto/; echo "untracked generated files: run 'make proto' and commit" >&2; exit 1; }

lint: $(STATICCHECK) ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

tools: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(PROTOC_GEN_GATEWAY) $(PROTOC_GEN_OPENAPI) $(STATICCHECK)

$(BUF): $(BIN)/.buf-$(BUF_VERSION)
$(BIN)/.buf-$(BUF_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@

$(PROTOC_GEN_GO): $(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION)
$(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION):
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@touch $@

$(PROTOC_GEN_GO_GRPC): $(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)
$(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION):
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@touch $@

$(PROTOC_GEN_GATEWAY): $(BIN)/.protoc-gen-grpc-gateway-$(GRPC_GATEWAY_VERSION)
$(BIN)/.protoc-gen-grpc-gateway-$(GRPC_GATEWAY_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
	@touch $@

$(PROTOC_GEN_OPENAPI): $(BIN)/.protoc-gen-openapiv2-$(GRPC_GATEWAY_VERSION)
$(BIN)/.protoc-gen-openapiv2-$(GRPC_GATEWAY_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)
	@touch $@

$(STATICCHECK): $(BIN)/.staticcheck-$(STATICCHECK_VERSION)
$(BIN)/.staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

clean:
	rm -rf $(BIN)
