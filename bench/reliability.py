"""The fault suite's last figures, read from docs/reliability.md (written by `make chaos`).

The benchmark does not run the fault suite; it reports the suite's last run next to its own
figures, or says that there is none.
"""
from __future__ import annotations

import re
from pathlib import Path

from .common import REPO

PATH = REPO / "docs" / "reliability.md"
_LAST_RUN = re.compile(r"^## Last run:\s*(?P<date>.+?)\s+[—-]+\s+(?P<verdict>.+)$")


def _plain(cell: str) -> str:
    return cell.replace("**", "").replace("`", "").strip()


def read(path: Path = PATH) -> dict | None:
    """{"date", "verdict", "figures": {name: value}, "path"} of the last run, else None."""
    if not path.exists():
        return None
    lines = path.read_text(errors="replace").splitlines()
    header = next(((i, m) for i, line in enumerate(lines) if (m := _LAST_RUN.match(line.strip()))), None)
    if header is None:
        return {"date": "unknown", "verdict": "no 'Last run' section found", "figures": {}, "path": str(path)}
    start, match = header
    figures: dict = {}
    in_table = False
    for line in lines[start + 1:]:
        cells = [c for c in line.strip().strip("|").split("|")] if line.strip().startswith("|") else None
        if cells is None:
            if in_table:
                break  # the end of the first table: the figures
            continue
        in_table = True
        if len(cells) == 2 and not set(cells[1].strip()) <= set("-: "):
            name, value = _plain(cells[0]), _plain(cells[1])
            if name != "figure":
                figures[name] = value
    return {"date": match["date"], "verdict": _plain(match["verdict"]), "figures": figures, "path": str(path)}
