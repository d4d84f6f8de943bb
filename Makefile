# courier: build, run and test everything.
#   make test    install what is missing (redis-server, a C compiler for -race,
#                chromium, npm packages), then go vet, go test -race, and the Node tests
#   make build   bin/courier
#   make run     a dev node on 127.0.0.1:8080 (ARGS="--listen ..." to change)
# Plain POSIX make and sh: no GNU extensions.

GO       = go
NPM      = npm
BIN      = bin/courier
ARGS     =
GOTEST   = $(GO) test -race -count=1 -timeout 15m

# Folders with npm packages: every package-lock.json outside node_modules.
NPM_DIRS = find . \( -name node_modules -o -name .git \) -prune -o -name package-lock.json -print | sed 's,/package-lock.json$$,,' | sort

.PHONY: test deps deps-apt deps-npm vet gotest nodetest build run clean

test: deps vet gotest nodetest

deps: deps-apt deps-npm

# apt packages only when a command is missing; sudo only when not root.
# chromium: Debian's, for the sdk-js browser test (no browser is downloaded).
deps-apt:
	@pkgs=''; \
	command -v redis-server >/dev/null 2>&1 || pkgs="$$pkgs redis-server"; \
	command -v gcc >/dev/null 2>&1 || pkgs="$$pkgs gcc libc6-dev"; \
	command -v chromium >/dev/null 2>&1 || pkgs="$$pkgs chromium"; \
	if [ -n "$$pkgs" ]; then \
		sudo=''; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		echo "installing:$$pkgs"; \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$pkgs; \
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

vet:
	$(GO) vet ./...

# -race needs cgo, which Go turns off when it finds no C compiler.
gotest:
	CGO_ENABLED=1 $(GOTEST) ./...
	cd router/trpc/interop && CGO_ENABLED=1 $(GOTEST) ./...

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
