"""JSON text with things the stdlib encoder cannot write, and short descriptions of bodies."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is: 1e400, NaN, lone surrogate escapes, 30-digit integers."""
    text: str


@dataclass(frozen=True)
class Deep:
    """`depth` nested objects (or arrays) around a leaf, written without recursion."""
    depth: int
    arrays: bool = False


def to_json(value, ascii_only: bool = True) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        opening, closing = ("[", "]") if value.arrays else ('{"d":', "}")
        return opening * value.depth + "1" + closing * value.depth
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=ascii_only) + ":" + to_json(v, ascii_only)
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v, ascii_only) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value, ensure_ascii=ascii_only)


def encode(value, ascii_only: bool = True) -> bytes:
    # surrogatepass: lone surrogates drawn by hypothesis must reach the server, not fail here
    return to_json(value, ascii_only).encode("utf-8", "surrogatepass")


def depth_of(value) -> int:
    if isinstance(value, Deep):
        return value.depth
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def describe(value, limit: int = 48) -> str:
    """A short description of a generated body: what a developer needs to rebuild it."""
    if isinstance(value, dict):
        parts = []
        for key, item in list(value.items())[:14]:
            small = isinstance(item, (dict, list)) and len(item) <= 8 and len(text := repr(item)) <= 3 * limit
            if small:
                parts.append(f"{key}={text}")
            elif isinstance(item, (dict, list, Deep)):
                size = len(item) if isinstance(item, (dict, list)) else 1
                parts.append(f"{key}:{type(item).__name__}(n={size},depth={depth_of(item)})")
            else:
                text = repr(item)
                parts.append(f"{key}={text[:limit]}{'…' if len(text) > limit else ''}")
        more = f", +{len(value) - 14} keys" if len(value) > 14 else ""
        return "{" + ", ".join(parts) + more + "}"
    if isinstance(value, list):
        items = "; ".join(describe(v, 24) for v in value[:3])
        return f"[{len(value)} items: {items}" + (" …]" if len(value) > 3 else "]")
    text = repr(value)
    return text[:limit * 2] + ("…" if len(text) > limit * 2 else "")
