# Benchmark suite support: `make bench-setup` installs the peer profilers the
# benchmark compares against (ddtrace, py-spy, pyinstrument, gunicorn and flask, matplotlib for
# charts) into bench/.venv, and Debian's ruby-stackprof. `make bench` and
# `make bench-quick` (root Makefile) run bench/run.py, which calls this setup
# itself and reports any peer that could not be installed.
BENCH_VENV := bench/.venv
BENCH_PIP_PACKAGES := ddtrace py-spy pyinstrument matplotlib protobuf gunicorn flask

.PHONY: bench-setup bench-clean bench-serve-hostile

bench-setup:
	@$(VPY) bench/setup_peers.py

bench-clean:
	rm -rf bench/out

# What hostile uploads cost `stacksight serve`: status, wall, server CPU and
# peak RSS per case (bench/serve_hostile.py, ~15 s).
bench-serve-hostile: python
	nice -n 10 $(VPY) bench/serve_hostile.py

# Upload-thread CPU to encode one period at 2 000 / 10 000 / 16 384 distinct
# stacks (bench/encode_cost.c, built with the extension's -O2).
.PHONY: bench-encode
build/encode_cost: bench/encode_cost.c $(CORE_SRC) $(wildcard src/common/*.h)
	@mkdir -p build
	$(CC) $(CFLAGS_CORE) -O2 -o $@ bench/encode_cost.c $(CORE_SRC) $(LIBS_CORE)

bench-encode: deps $(GEN)/profile.pb-c.c build/encode_cost
	./build/encode_cost

# RSS and private dirty memory added by stacksight after 300 s of ~16 000
# distinct stacks a period, agent upload and file output (bench/memory_added.py,
# ~5.5 min; `--seconds 60` shows the same steady state).
.PHONY: bench-memory
bench-memory: python
	$(VPY) bench/memory_added.py
