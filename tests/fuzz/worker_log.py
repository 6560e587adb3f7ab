"""Reading a worker's log as the run goes: new tracebacks, summarised."""
from __future__ import annotations

import re
from pathlib import Path


TRACEBACK_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')
RECORD_START = re.compile(r"^(\[\d{4}-\d\d-\d\d |\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d )")


class LogTail:
    """New tracebacks in a worker's log since the last look, as short signatures."""

    def __init__(self, path: Path):
        self.path, self.offset = path, path.stat().st_size if path.exists() else 0

    def new_errors(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        cut = data.rfind(b"\n") + 1   # only whole lines
        self.offset += cut
        records, current = [], []
        for line in data[:cut].decode("utf-8", "replace").splitlines():
            if RECORD_START.match(line) and current:
                records.append(current)
                current = []
            current.append(line)
        if current:
            records.append(current)
        return [summary for record in records if (summary := self._summarise(record))]

    @staticmethod
    def _summarise(lines: list[str]) -> dict | None:
        if not any(line.startswith("Traceback") for line in lines):
            return None
        last_chain = max(i for i, line in enumerate(lines) if line.startswith("Traceback"))
        frames = [m.groups() for line in lines[last_chain:] if (m := TRACEBACK_FRAME.match(line))]
        chain = lines[last_chain:]
        at = next((i for i in range(len(chain) - 1, -1, -1)
                   if chain[i] and not chain[i][0].isspace() and not chain[i].startswith("Traceback")), None)
        exception = chain[at] if at is not None else "?"
        if at is not None and exception.endswith("message:"):   # aiohttp: the message is on the next line
            exception += " " + next((line.strip() for line in chain[at + 1:] if line.strip()), "")
        ours = [f for f in frames if "/streams/" in f[0] and "site-packages" not in f[0]]
        innermost = (frames or [("?", "?", "?")])[-1]

        def short(frame: tuple) -> str:
            path = frame[0].split("/streams/")[-1] if "/streams/" in frame[0] else frame[0].split("site-packages/")[-1]
            return f"{path}:{frame[1]} in {frame[2]}"

        # the call chain inside streams/ (the project's code) names the place to fix
        where = " > ".join(short(f) for f in (ours[-4:] or frames[-3:])) if frames else "?"
        kind = ("http" if "Error handling request" in lines[0]
                else "agent" if "processing failed" in lines[0] else "other")
        return {"kind": kind, "exception": exception[:300], "type": exception.split(":")[0],
                "where": where, "innermost": short(innermost), "first_line": lines[0][:200]}
