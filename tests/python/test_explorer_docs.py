"""The README's explorer walkthrough shows every view: each screenshot that
tests/browser/screenshots.mjs makes (`make explorer-screenshots`) is
committed under docs/explorer/ and shown in README.md, and no stale picture
of a view that is no longer shot stays behind."""

from __future__ import annotations

import os
import re

# The source tree this file is in (conftest.REPO is the build copy under ASan).
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DOCS = os.path.join(REPO, "docs", "explorer")


def _shot_names() -> set[str]:
    with open(os.path.join(REPO, "tests", "browser", "screenshots.mjs"), encoding="utf-8") as handle:
        return set(re.findall(r'await shot\("([^"]+)"', handle.read()))


def test_every_screenshot_is_committed_and_shown_in_the_readme():
    shots = _shot_names()
    assert len(shots) >= 16, shots
    committed = {name[:-4] for name in os.listdir(DOCS) if name.endswith(".png")}
    assert committed == shots, (sorted(shots - committed), sorted(committed - shots))
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        shown = set(re.findall(r"docs/explorer/([\w-]+)\.png", handle.read()))
    assert shots <= shown, sorted(shots - shown)
