# mk/explorer.mk - the explorer of `stacksight serve` (issue #16).
#
#   make test-explorer-browser  Playwright (npm playwright-core, pinned in
#                               tests/browser/package-lock.json) drives Debian's
#                               Chromium through every explorer view on a store
#                               filled with real and generated uploads (~1 min)
#   make explorer-screenshots   the PNGs under docs/explorer/ shown in the README
#   make bench-explorer         flame graph answer times vs the goals (single
#                               14k-stack profile <= 300 ms, merge of 200 <= 3 s),
#                               cold and warm cache, answer sizes (~5 min)
#   make bench-explorer-quick   the same with a merge of 40 (~1.5 min)

SYSTEM_PACKAGES += chromium nodejs
BROWSER_TESTS := tests/browser

.PHONY: test-explorer-browser explorer-screenshots bench-explorer bench-explorer-quick

$(BROWSER_TESTS)/node_modules/.package-lock.json: $(BROWSER_TESTS)/package.json $(BROWSER_TESTS)/package-lock.json
	cd $(BROWSER_TESTS) && npm ci --no-audit --no-fund --loglevel=error

test-explorer-browser: python $(BROWSER_TESTS)/node_modules/.package-lock.json
	cd $(BROWSER_TESTS) && STACKSIGHT_PYTHON=$(abspath $(VPY)) nice -n 10 node --test --test-concurrency=1 explorer.test.mjs

explorer-screenshots: python $(BROWSER_TESTS)/node_modules/.package-lock.json
	cd $(BROWSER_TESTS) && STACKSIGHT_PYTHON=$(abspath $(VPY)) node screenshots.mjs $(abspath docs/explorer)

bench-explorer: venv
	nice -n 10 $(VPY) bench/explorer_bench.py

bench-explorer-quick: venv
	nice -n 10 $(VPY) bench/explorer_bench.py --quick

test: test-explorer-browser
