# courier: build, run and test everything.
#   make test    install what is missing (redis-server, a C compiler for -race,
#                chromium, npm packages), then go vet, go test -race, and the Node tests
#   make check   the quality gate: gofmt and goimports, go vet, staticcheck
#                (staticcheck.conf), the TypeScript type check of both SDKs
#   make unit    the Go tests that need no redis-server, with -race
#   make build   bin/courier
#   make run     a dev node on 127.0.0.1:8080 (ARGS="--listen ..." to change)
# Plain POSIX make and sh: no GNU extensions.

GO       = go
NPM      = npm
BIN      = bin/courier
ARGS     =
GOTEST   = $(GO) test -race -count=1 -timeout 15m

# Pinned Go tools, each installed once per version into bin/tools/ by `go
# install` (from the Go module proxy, like every Go dependency): staticcheck
# 2026.2.2 and goimports of golang.org/x/tools, both built for Go 1.26.
STATICCHECK_VERSION = v0.8.2
GOIMPORTS_VERSION   = v0.53.0
TOOLS       = bin/tools
STATICCHECK = $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
GOIMPORTS   = $(TOOLS)/goimports-$(GOIMPORTS_VERSION)/goimports

# Go files of both modules (router/trpc/interop is the second), outside npm
# folders and testdata.
GO_FILES = find . \( -name node_modules -o -name .git -o -name bin -o -name testdata \) -prune -o -name '*.go' -print

# Packages whose test binary does not link courier/router/redistest (the
# helper that starts redis-server), so need no Redis. Packages without tests
# have no test binary and are left out too.
UNIT_PKGS = $(GO) list -test -f '{{.ImportPath}}{{range .Deps}} {{.}}{{end}}' ./... | \
	awk '$$1 ~ /\.test$$/ { p = substr($$1, 1, length($$1) - 5); if (p != "courier/router/redistest" && !/ courier\/router\/redistest( |$$)/) print p }'

# Folders with npm packages: every package-lock.json outside node_modules.
NPM_DIRS = find . \( -name node_modules -o -name .git \) -prune -o -name package-lock.json -print | sed 's,/package-lock.json$$,,' | sort

.PHONY: test check unit deps deps-apt deps-npm fmtcheck vet lint tscheck gotest nodetest build run clean

test: deps vet gotest nodetest

deps: deps-apt deps-npm

# apt packages only when a command is missing; sudo only when not root.
# chromium: Debian's, for the sdk-js browser test (no browser is downloaded).
# prometheus (with promtool): deploy/prometheus_test.go evaluates the
# dashboard and the alert rules on it.
# podman: deploy/image_test.go builds the runtime image (with its
# recommended packages: storage and the chroot build need them).
deps-apt:
	@pkgs=''; withrec=''; \
	command -v redis-server >/dev/null 2>&1 || pkgs="$$pkgs redis-server"; \
	command -v gcc >/dev/null 2>&1 || pkgs="$$pkgs gcc libc6-dev"; \
	command -v chromium >/dev/null 2>&1 || pkgs="$$pkgs chromium"; \
	command -v prometheus >/dev/null 2>&1 || pkgs="$$pkgs prometheus"; \
	command -v podman >/dev/null 2>&1 || withrec="$$withrec podman"; \
	if [ -n "$$pkgs$$withrec" ]; then \
		sudo=''; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		echo "installing:$$pkgs$$withrec"; \
		$$sudo apt-get update || exit 1; \
		if [ -n "$$pkgs" ]; then $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$pkgs || exit 1; fi; \
		if [ -n "$$withrec" ]; then $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $$withrec || exit 1; fi; \
	fi

# npm ci again only when package-lock.json is newer than the last install.
deps-npm:
	@for dir in $$($(NPM_DIRS)); do \
		if [ "$$dir/node_modules/.package-lock.json" -nt "$$dir/package-lock.json" ]; then \
			echo "npm packages of $$dir are up to date"; \
		else \
			echo "npm ci in $$dir"; (cd "$$dir" && $(NPM) ci --no-audit --no-fund) || exit 1; \
		fi; \
	done

# The gate fails on any finding: a file gofmt or goimports would change
# (imports in three groups: standard library, third party, courier), a vet
# or staticcheck report, a TypeScript error.
check: fmtcheck vet lint tscheck

fmtcheck: $(GOIMPORTS)
	@files=$$($(GO_FILES)); \
	bad=$$( { "$$($(GO) env GOROOT)/bin/gofmt" -l $$files; $(GOIMPORTS) -local courier -l $$files; } | sort -u); \
	if [ -n "$$bad" ]; then \
		echo "not formatted (gofmt -w, $(GOIMPORTS) -local courier -w):"; echo "$$bad"; exit 1; \
	fi

vet:
	$(GO) vet ./...
	cd router/trpc/interop && $(GO) vet ./...

lint: $(STATICCHECK)
	$(STATICCHECK) ./...
	sc="$$(pwd)/$(STATICCHECK)"; cd router/trpc/interop && "$$sc" ./...

# sdk-cocos resolves courier-sdk/core to sdk-js's declarations, so sdk-js is
# checked by the tsc run that writes them (its tsconfig emits declarations
# only, into the git-ignored dist/).
tscheck: deps-npm
	cd sdk-js && node_modules/.bin/tsc -p .
	cd sdk-cocos && node_modules/.bin/tsc --noEmit -p .

$(STATICCHECK):
	GOBIN="$$(pwd)/$(TOOLS)/staticcheck-$(STATICCHECK_VERSION)" $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GOIMPORTS):
	GOBIN="$$(pwd)/$(TOOLS)/goimports-$(GOIMPORTS_VERSION)" $(GO) install golang.org/x/tools/cmd/goimports@$(GOIMPORTS_VERSION)

# -race needs cgo, which Go turns off when it finds no C compiler.
gotest:
	CGO_ENABLED=1 $(GOTEST) ./...
	cd router/trpc/interop && CGO_ENABLED=1 $(GOTEST) ./...

# The Go tests that need no redis-server (UNIT_PKGS; `make test` runs them
# all), with -race. Measured on this machine (2 cores shared with other
# work, load average 7-8): 53 s with the race build cached, 70 s from a cold
# build; node/engine is 45 s of it. Without -race: 41 s.
unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 5m $$($(UNIT_PKGS))

# npm test in every npm folder whose package.json has a real test script.
nodetest:
	@for dir in $$($(NPM_DIRS)); do \
		if (cd "$$dir" && node -e 'const t = require("./package.json").scripts?.test; process.exit(t && !/no test specified/.test(t) ? 0 : 1)'); then \
			echo "npm test in $$dir"; (cd "$$dir" && $(NPM) test) || exit 1; \
		fi; \
	done

build:
	$(GO) build -o $(BIN) ./node/cmd/courier

run: build
	./$(BIN) $(ARGS)

clean:
	rm -rf bin
