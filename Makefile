# stacksight: `make demo` and `make test` set everything up on a fresh machine.
#
# System packages are installed with apt-get when running as root; otherwise
# the exact command to run is printed. Python packages go into .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
GEN := build/gen
CC ?= gcc
# Recursive (=), not simple (:=): pkg-config must run when a recipe needs the
# flags, after `deps` has installed the libraries, or the first `make test` on
# a fresh machine links without them.
# libdeflate (gzip of uploads, src/common/gzip.c) is optional: without it the
# build uses zlib.
DEFLATE_CFLAGS = $(shell pkg-config --exists libdeflate 2>/dev/null && echo -DSS_HAVE_LIBDEFLATE)
DEFLATE_LIBS = $(shell pkg-config --libs libdeflate 2>/dev/null)
CFLAGS_CORE = -std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers -g -O1 \
	-I$(GEN) -Isrc/common $(shell pkg-config --cflags libcurl libprotobuf-c zlib 2>/dev/null) $(DEFLATE_CFLAGS)
# libcurl is not linked: src/common/curl_loader.c loads it at the first upload.
LIBS_CORE = $(shell pkg-config --libs libprotobuf-c zlib 2>/dev/null) $(DEFLATE_LIBS) -ldl -lpthread -lm
CORE_SRC := $(wildcard src/common/*.c) $(GEN)/profile.pb-c.c
SYSTEM_PACKAGES := pkg-config gcc make ruby-dev rake ruby-minitest libcurl4-openssl-dev \
	libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libdeflate-dev chromium debootstrap ca-certificates
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all deps venv python ruby core-tests test test-python test-ruby demo demo-stop bench bench-quick clean

all: python

deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing system packages; run:"; echo "  sudo apt-get install -y" $$missing; exit 1; \
	  fi; \
	fi

$(VENV)/.ready: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip setuptools wheel
	$(VPY) -m pip install -q pytest protobuf trio==0.35.0 gevent==26.9.0
	touch $@

venv: deps $(VENV)/.ready

$(GEN)/profile.pb-c.c: proto/profile.proto
	mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) --proto_path=proto profile.proto

python: venv
	$(VPY) -m pip install -q --no-build-isolation -e .

ruby: deps
	@if [ -f Rakefile ]; then rake compile; fi

build/test_core: tests/c/test_core.c $(CORE_SRC) $(wildcard src/common/*.h)
	$(CC) $(CFLAGS_CORE) -o $@ tests/c/test_core.c $(CORE_SRC) $(LIBS_CORE)

core-tests: deps $(GEN)/profile.pb-c.c build/test_core
	./build/test_core

# The gem is built first: the intake tests also upload from the Ruby profiler.
test-python: python ruby
	$(VPY) -m pytest -q -rs tests/python

test-ruby: ruby
	@if [ -f Rakefile ]; then rake test; fi

test: deps core-tests test-python test-ruby

demo: python ruby
	$(VPY) tests/apps/demo.py

demo-stop:
	$(VPY) tests/apps/demo.py --stop

bench: python
	$(VPY) bench/run.py

bench-quick: python
	$(VPY) bench/run.py --quick
	$(VPY) bench/alloc_hook_cost.py

clean:
	rm -rf build ext/stacksight/*.so *.egg-info ext/*.egg-info

# Targets of the benchmark, reliability and other suites live beside this file.
-include mk/*.mk
