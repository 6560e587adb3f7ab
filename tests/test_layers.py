"""The layers of streams/ (tests/layers.py): no import runs back up, core stays pure, and
docs/architecture.md shows the picture the code draws today."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import layers

PAGE = layers.ROOT.parent / "docs" / "architecture.md"


def test_no_import_runs_back_up_and_core_is_pure():
    assert layers.violations() == []


def test_the_architecture_page_shows_todays_picture():
    text = PAGE.read_text()
    shown = re.search(r"<!-- layers:begin.*?-->\n(.*?)\n<!-- layers:end -->", text, re.S).group(1)
    assert shown == layers.mermaid(), "run `python -m tests.layers --write`"


def _tree(root: Path, files: dict) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


@pytest.mark.parametrize("files, found", [
    # core/config.py used to take the topic names from runtime/topics (issue Q).
    ({"core/config.py": "from streams.runtime import topics as names\n"},
     "streams/core/config.py:1: core imports streams.runtime (runs back up)"),
    ({"core/config.py": "from streams import runtime\n"},
     "streams/core/config.py:1: core imports streams.runtime (runs back up)"),
    ({"runtime/app.py": "import streams.agents.users\n"},
     "streams/runtime/app.py:1: runtime imports streams.agents.users (runs back up)"),
    ({"core/state.py": "import kafka\n"}, "streams/core/state.py:1: core imports kafka"),
    ({"core/state.py": "import time\n\ndef now():\n    return time.time()\n"},
     "streams/core/state.py:4: core reads the clock (time.time())"),
    ({"helpers.py": "x = 1\n"}, "streams/helpers.py: a module on the flat floor of streams/"),
])
def test_the_checker_finds_each_kind_of_violation(tmp_path, monkeypatch, files, found):
    root = tmp_path / "streams"
    _tree(root, {"__init__.py": "", "core/__init__.py": "", "runtime/__init__.py": "",
                 "runtime/topics.py": "from streams.core import topics as names\n", "core/topics.py": "", **files})
    monkeypatch.setattr(layers, "ROOT", root)
    assert layers.violations() == [found]


def test_the_checker_lets_imports_run_down(tmp_path, monkeypatch):
    root = tmp_path / "streams"
    _tree(root, {"__init__.py": "", "core/config.py": "from streams.core import topics as names\n",
                 "runtime/topics.py": "from streams.core import topics as names\n",
                 "cli/admin.py": "from streams.runtime import topics\nfrom streams.core.config import Config\n"})
    monkeypatch.setattr(layers, "ROOT", root)
    assert layers.violations() == []
