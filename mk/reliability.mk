# mk/reliability.mk - sanitizers, valgrind, stress, fuzzing and soak (issue #8).
#
#   make test-asan         C core tests + Python (+ Ruby) suites under ASan+UBSan
#   make test-valgrind     C core tests under valgrind (memcheck, leaks)
#   make test-reliability  tests/reliability: thread churn, fork storms, intake
#                          faults, bad input, multipart fuzzing (CI size)
#   make test-reliability-ruby  the Ruby thread churn and fork storm
#   make fuzz-smoke        every fuzz target for a few seconds (CI, <= 60 s)
#   make fuzz              every fuzz target for FUZZ_SECONDS each (default 600)
#   make soak              profiled HTTP app under load for SOAK_MINUTES (30)
#
# Needs clang + libclang-rt-14-dev (libFuzzer) and valgrind; gcc's libasan
# comes with gcc. The sanitized Python extension is built in build/asan (a
# copy of the tree) so ext/stacksight/_native*.so is never replaced.

.PHONY: test-asan test-asan-core test-asan-python test-asan-ruby test-valgrind \
	test-reliability test-reliability-ruby fuzz-smoke fuzz fuzz-build soak

# These targets' own packages, installed by `deps` (a prerequisite of each)
# when one of them is what make was asked for.
test-asan test-asan-core test-asan-python test-asan-ruby test-valgrind test-reliability \
test-reliability-ruby fuzz-smoke fuzz fuzz-build soak: SYSTEM_PACKAGES += clang libclang-rt-14-dev valgrind

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_LIB := $(shell $(CC) -print-file-name=libasan.so)
ASAN_DIR := build/asan
# The browser test is left out: it runs no native code of ours, and a
# chromium with libasan preloaded spins. Interpreters leak by design at exit, so leak checking is off for them (the
# C tests keep it on). UBSan findings abort, so a test sees them as a crash.
# PYTHONPATH=ext: the tests' own process imports the sanitized build too, not
# the editable install of the normal one.
ASAN_ENV := LD_PRELOAD=$(ASAN_LIB) \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:handle_segv=1:allow_user_segv_handler=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Reliability tests also run under ASan, in their CI size (a separate pytest
# run: the two suites each have a conftest.py).
ASAN_RELIABILITY ?= tests/reliability/test_bad_input.py tests/reliability/test_thread_churn.py \
	tests/reliability/test_label_flood.py

build/test_core_asan: tests/c/test_core.c $(CORE_SRC) $(wildcard src/common/*.h)
	$(CC) $(CFLAGS_CORE) $(SAN_FLAGS) -o $@ tests/c/test_core.c $(CORE_SRC) $(LIBS_CORE)

test-asan-core: deps $(GEN)/profile.pb-c.c build/test_core_asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ./build/test_core_asan

test-asan-python: venv $(GEN)/profile.pb-c.c
	tests/reliability/asan_tree.sh $(ASAN_DIR) $(VPY)
	cd $(ASAN_DIR) && $(ASAN_ENV) PYTHONPATH=ext $(abspath $(VPY)) -m pytest -q -p no:cacheprovider tests/python \
		--ignore=tests/python/test_serve_browser.py --ignore=tests/python/test_explorer_docs.py
	cd $(ASAN_DIR) && $(ASAN_ENV) PYTHONPATH=ext RELIABILITY_CI=1 $(abspath $(VPY)) -m pytest -q -p no:cacheprovider \
		$(ASAN_RELIABILITY)

# The gem's extension, built with the sanitizers into its own directory.
test-asan-ruby: deps
	@if [ -f Rakefile ] && [ -d tests/ruby ] && ls tests/ruby/test_*.rb >/dev/null 2>&1; then \
	  tests/reliability/asan_ruby.sh $(ASAN_DIR)-ruby; \
	else echo "test-asan-ruby: no Ruby gem/tests in this tree; skipped"; fi

test-asan: test-asan-core test-asan-python test-asan-ruby

test-valgrind: deps $(GEN)/profile.pb-c.c build/test_core
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite ./build/test_core

# CI size; RELIABILITY_CI=0 (or RELIABILITY_THREADS=..., ...) for other sizes.
RELIABILITY_CI ?= 1
test-reliability: python
	RELIABILITY_CI=$(RELIABILITY_CI) $(VPY) -m pytest -q -p no:cacheprovider tests/reliability

# The Ruby stress tests (20 000 threads at 1 kHz, fork storm), when the gem is here.
test-reliability-ruby: ruby
	@if [ -f Rakefile ] && [ -f tests/ruby/support.rb ]; then \
	  ruby -I gem/lib -I tests/ruby tests/ruby/reliability_test_stress.rb; \
	else echo "test-reliability-ruby: no Ruby gem in this tree; skipped"; fi

# ---- fuzzing ---------------------------------------------------------------
FUZZ_CC ?= clang
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := config pprof
FUZZ_SECONDS ?= 600
FUZZ_PYLIB := build/fuzz/pylib

build/fuzz/fuzz_%: fuzz/fuzz_%.c $(CORE_SRC) $(wildcard src/common/*.h)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(CFLAGS_CORE) $(FUZZ_FLAGS) -o $@ $< $(CORE_SRC) $(LIBS_CORE) -lm

$(FUZZ_PYLIB)/.ready:
	@mkdir -p $(FUZZ_PYLIB)
	$(VPY) -m pip install -q --target $(FUZZ_PYLIB) atheris && touch $@ || \
	  echo "atheris did not install: the multipart parser is fuzzed by tests/reliability/test_multipart_fuzz.py only"

fuzz-build: deps $(GEN)/profile.pb-c.c $(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))

# One libFuzzer run: $(1) target, $(2) seconds. The working corpus is in
# build/fuzz/corpus-<target>; fuzz/corpus/<target> holds the committed seeds.
define run_fuzzer
	@mkdir -p build/fuzz/corpus-$(1) build/fuzz/artifacts
	./build/fuzz/fuzz_$(1) -max_total_time=$(2) -max_len=8192 -timeout=5 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/artifacts/$(1)- build/fuzz/corpus-$(1) fuzz/corpus/$(1) 2>&1 | \
		grep -E "^(Done|stat::number_of_executed_units|==|SUMMARY|invariant)|ERROR" ; \
		test $${PIPESTATUS[0]} -eq 0
endef

define run_multipart_fuzzer
	@mkdir -p build/fuzz/corpus-multipart build/fuzz/artifacts
	@if [ -f $(FUZZ_PYLIB)/.ready ]; then \
	  PYTHONPATH=$(FUZZ_PYLIB):ext $(VPY) fuzz/fuzz_multipart.py -max_total_time=$(1) -timeout=2 \
	    -max_len=65536 -artifact_prefix=build/fuzz/artifacts/multipart- \
	    build/fuzz/corpus-multipart fuzz/corpus/multipart 2>&1 | grep -E "^(Done|==)|ERROR|Error" ; \
	  test $${PIPESTATUS[0]} -eq 0; \
	else \
	  RELIABILITY_FUZZ_ROUNDS=$$(( $(1) * 300 )) $(VPY) -m pytest -q -p no:cacheprovider \
	    tests/reliability/test_multipart_fuzz.py; \
	fi
endef

fuzz-smoke: fuzz-build python $(FUZZ_PYLIB)/.ready
	$(call run_fuzzer,config,15)
	$(call run_fuzzer,pprof,25)
	$(call run_multipart_fuzzer,15)

fuzz: fuzz-build python $(FUZZ_PYLIB)/.ready
	$(call run_fuzzer,config,$(FUZZ_SECONDS))
	$(call run_fuzzer,pprof,$(FUZZ_SECONDS))
	$(call run_multipart_fuzzer,$(FUZZ_SECONDS))

# ---- soak ------------------------------------------------------------------
SOAK_MINUTES ?= 30
soak: python
	$(VPY) tests/reliability/soak.py --minutes $(SOAK_MINUTES)
