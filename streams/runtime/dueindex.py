"""An index of keys by due time, so a timer finds the due keys without scanning the table.

A heap with lazy deletion: rescheduling a key pushes a new entry and remembers only the
latest due time; stale heap entries are skipped when popped.
"""
from __future__ import annotations

import heapq


class DueIndex:
    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, key: str, due: int | None) -> None:
        """Set (or clear, with None) the instant at which `key` must be looked at again."""
        if due is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))
        if len(self._heap) > 4 * len(self._due) + 1024:
            self._compact()

    def pop_due(self, now: int, limit: int = 10_000) -> list[str]:
        """Keys whose due time is <= now (each once), at most `limit` of them."""
        keys: list[str] = []
        while self._heap and self._heap[0][0] <= now and len(keys) < limit:
            due, key = heapq.heappop(self._heap)
            if self._due.get(key) == due:
                del self._due[key]
                keys.append(key)
        return keys

    def prune(self, drop) -> int:
        """Forget every key for which `drop(key)` is true (a revoked partition's users: their
        new owner indexes them; left here they would be ticked by a worker that no longer
        holds them, and kept in memory across every rebalance). Returns how many."""
        dropped = [key for key in self._due if drop(key)]
        for key in dropped:
            del self._due[key]
        if dropped:
            self._compact()
        return len(dropped)

    def next_due(self) -> int | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _compact(self) -> None:
        self._heap = [(due, key) for key, due in self._due.items()]
        heapq.heapify(self._heap)
