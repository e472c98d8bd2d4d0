# ec2ha — make targets. `make demo` and `make test` are the two commands a
# new user needs; everything they need is installed by Go itself.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/ec2ha/ec2ha/internal/version.Version=$(VERSION)
BIN       := bin/ec2ha
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test lint tf-lint demo e2e bench fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ec2ha

# All tests, race detector on. Scripts under test/ are driven from Go tests.
test:
	$(GO) test -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	@test -x $(GOBIN)/staticcheck || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck ./...
	$(GOBIN)/staticcheck -tags e2e ./e2e/...
	$(MAKE) --no-print-directory tf-lint

# terraform fmt and tflint over the module; .ci/install-terraform-tools.sh
# installs both with `go install`.
tf-lint:
	@test -x $(GOBIN)/terraform -a -x $(GOBIN)/tflint || bash .ci/install-terraform-tools.sh
	CHECKPOINT_DISABLE=1 $(GOBIN)/terraform fmt -check -recursive terraform/
	$(GOBIN)/tflint --recursive --chdir terraform --config $(CURDIR)/terraform/.tflint.hcl

demo: build
	$(BIN) demo

# The end-to-end scenarios: real agents in network namespaces (needs root,
# iproute2 and nftables). E2E_SEEDS sets the randomised campaign's length;
# the report is printed and written to e2e/report.md.
E2E_SEEDS ?= 50
e2e: build
	E2E_SEEDS=$(E2E_SEEDS) E2E_REPORT=$(CURDIR)/e2e/report.md EC2HA_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -tags e2e -count=1 -timeout 45m -v ./e2e/

bench:
	$(MAKE) --no-print-directory build
	$(GO) run ./bench/cmd/report -out bench/report.md -data bench/data $(BENCHFLAGS)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 30s ./internal/config

clean:
	rm -rf bin
