# mk/interop.mk - Datadog's own profiling clients, for the tests that upload
# from them to a real `stacksight serve` (tests/python/test_serve_datadog_clients.py).
#
#   make interop-clients   ddtrace (pinned below) into its own venv, and the two
#                          dd-trace-go programs of tests/interop/go built with the
#                          Go module proxy; modules and build cache stay under
#                          build/interop so nothing outside the tree is written
#
# A client that cannot be installed does not fail the build: its reason goes to
# build/interop/<client>.unavailable and its test skips naming it.  The next
# make tries again (the target file is only made on success).

INTEROP := build/interop
DDTRACE_VERSION := 4.16.0
DDTRACE_VENV := $(INTEROP)/ddtrace-venv
INTEROP_GO_ENV := GOMODCACHE=$(abspath $(INTEROP)/gomod) GOCACHE=$(abspath $(INTEROP)/gocache) \
	GOFLAGS="-modcacherw -buildvcs=false -mod=readonly" GOTOOLCHAIN=local
INTEROP_GO_SRC := tests/interop/go

.PHONY: interop-clients interop-clean

$(DDTRACE_VENV)/.ready: mk/interop.mk
	@mkdir -p $(INTEROP); rm -f $(INTEROP)/ddtrace.unavailable
	@{ $(PYTHON) -m venv $(DDTRACE_VENV) && $(DDTRACE_VENV)/bin/python -m pip install -q ddtrace==$(DDTRACE_VERSION) \
	   && touch $@; } > $(INTEROP)/ddtrace.log 2>&1 \
	 || { tail -3 $(INTEROP)/ddtrace.log > $(INTEROP)/ddtrace.unavailable; \
	      echo "ddtrace $(DDTRACE_VERSION) not installed (its test will skip):"; cat $(INTEROP)/ddtrace.unavailable; }

$(INTEROP)/ddgo-%: $(INTEROP_GO_SRC)/%/main.go $(INTEROP_GO_SRC)/%/go.mod $(INTEROP_GO_SRC)/%/go.sum \
		$(INTEROP_GO_SRC)/workload/workload.go
	@mkdir -p $(INTEROP); rm -f $(INTEROP)/ddgo-$*.unavailable
	@{ command -v go >/dev/null || { echo "go is not installed"; false; }; } > $(INTEROP)/ddgo-$*.log 2>&1 \
	 && (cd $(INTEROP_GO_SRC)/$* && $(INTEROP_GO_ENV) go build -o $(abspath $@) .) >> $(INTEROP)/ddgo-$*.log 2>&1 \
	 || { tail -3 $(INTEROP)/ddgo-$*.log > $(INTEROP)/ddgo-$*.unavailable; \
	      echo "dd-trace-go $* program not built (its test will skip):"; cat $(INTEROP)/ddgo-$*.unavailable; }

interop-clients: $(DDTRACE_VENV)/.ready $(INTEROP)/ddgo-v1 $(INTEROP)/ddgo-v2

interop-clean:
	rm -rf $(INTEROP)

test-python: interop-clients
