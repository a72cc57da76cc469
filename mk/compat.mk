# mk/compat.mk - programs that must behave the same profiled (issue #17).
#
#   make test-compat   CPython's own regression tests for threads, processes,
#                      signals, fds, exceptions and logging, with and without
#                      the profiler; fails on any test whose result differs

.PHONY: test-compat

test-compat: python
	$(VPY) tests/compat/run_cpython_tests.py

test: test-compat
