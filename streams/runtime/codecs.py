"""The `orjson` Faust codec: every JSON encode and decode in survey-streams goes through orjson."""
from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs


class OrjsonCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        if isinstance(s, list):  # a RecordBatch of a table's changelog (streams.runtime.batching): as it is
            return s
        return orjson.loads(s)


codecs.register("orjson", OrjsonCodec())
