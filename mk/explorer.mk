# mk/explorer.mk - the explorer of `stacksight serve` (issue #16).
#
#   make bench-explorer        flame graph answer times vs the goals (single
#                              14k-stack profile <= 300 ms, merge of 200 <= 3 s),
#                              cold and warm cache, answer sizes (~4 min)
#   make bench-explorer-quick  the same with a merge of 40 (~1 min)

.PHONY: bench-explorer bench-explorer-quick

bench-explorer: venv
	nice -n 10 $(VPY) bench/explorer_bench.py

bench-explorer-quick: venv
	nice -n 10 $(VPY) bench/explorer_bench.py --quick
