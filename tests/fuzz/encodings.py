"""Content-Encoding and Transfer-Encoding variants of a body, gzip bombs included."""
from __future__ import annotations

import functools
import gzip
import zlib

from hypothesis import strategies as st


@functools.cache
def gzip_bomb(inflated: int) -> bytes:
    """Small on the wire, `inflated` bytes once inflated (built once, on first use)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"x" * (1 << 20)
    parts = [compressor.compress(b'{"userId": "bomb", "traits": {"pad": "')]
    for _ in range(inflated // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(b'"}}') + compressor.flush())
    return b"".join(parts)


BOMBS = {"gzip-bomb-2MB": 2 << 20, "gzip-bomb-64MB": 64 << 20}
# Mostly "none": most requests are about their body, not its framing.
ENCODINGS = ["none"] * 24 + ["gzip", "gzip", "gzip-invalid", "gzip-invalid", "gzip-truncated", "gzip-bomb-2MB",
                             "gzip-bomb-64MB", "deflate", "deflate-invalid", "br-invalid", "zstd-invalid",
                             "x-unknown", "GZIP-uppercase", "identity", "gzip-no-header", "gzip-twice",
                             "gzip-header-twice", "chunked", "chunked+gzip"]


# Encodings whose errors aiohttp's parser answers itself (400, text), before or instead of the view:
# no decoder installed (br, zstd), or a stream found broken only at its end (feed_eof).
PARSER_ENCODINGS = {"br-invalid", "zstd-invalid", "deflate-invalid", "gzip-truncated"}


def encode_body(draw, body: bytes) -> tuple[bytes, list, str, bool]:
    """(wire body, extra headers, label, chunked) for a Content-Encoding variant."""
    label = draw(st.sampled_from(ENCODINGS))
    gz = lambda data: gzip.compress(data, compresslevel=1, mtime=0)  # noqa: E731
    if label == "none":
        return body, [], label, False
    if label in ("gzip", "GZIP-uppercase"):
        return gz(body), [(b"Content-Encoding", b"gzip" if label == "gzip" else b"GZIP")], label, False
    if label == "gzip-invalid":
        return body or b"not gzip", [(b"Content-Encoding", b"gzip")], label, False
    if label == "gzip-truncated":
        data = gz(body)
        return data[:max(2, len(data) // 2)], [(b"Content-Encoding", b"gzip")], label, False
    if label in BOMBS:
        return gzip_bomb(BOMBS[label]), [(b"Content-Encoding", b"gzip")], label, False
    if label == "deflate":
        return zlib.compress(body), [(b"Content-Encoding", b"deflate")], label, False
    if label == "deflate-invalid":
        return b"\x78\x9c" + body, [(b"Content-Encoding", b"deflate")], label, False
    if label == "br-invalid":
        return body, [(b"Content-Encoding", b"br")], label, False
    if label == "zstd-invalid":
        return body, [(b"Content-Encoding", b"zstd")], label, False
    if label == "x-unknown":
        return gz(body), [(b"Content-Encoding", b"x-compress-\xe9")], label, False
    if label == "identity":
        return body, [(b"Content-Encoding", b"identity")], label, False
    if label == "gzip-no-header":
        return gz(body), [], label, False
    if label == "gzip-twice":
        return gz(gz(body)), [(b"Content-Encoding", b"gzip")], label, False
    if label == "gzip-header-twice":
        return gz(gz(body)), [(b"Content-Encoding", b"gzip, gzip")], label, False
    if label == "chunked":
        return body, [], label, True
    return gz(body), [(b"Content-Encoding", b"gzip")], label, True  # chunked+gzip
