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
