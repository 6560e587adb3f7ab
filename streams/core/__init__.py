"""Pure survey logic: functions of a user's state, the config and `now`, returning results.
Imports only the standard library, yaml/orjson and streams.core: no Faust, Kafka, aiohttp, RocksDB or clock."""
