"""Field-by-field tests of the message shapes in streams/schemas (Segment messages, widget events).
They import streams.schemas and streams.core only."""
