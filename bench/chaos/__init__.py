"""The fault suite (`make chaos`): kill workers and restart the broker while a seeded
Segment stream and widget sessions flow, then compare with a fault-free run of the same
input. Modules: inputs (generation), driver (producing and widget sessions), faults
(kills, broker restart, recovery probes), collect (settling and reading), compare,
report, suite (the two passes and the command line)."""
