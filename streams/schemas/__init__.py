"""The shapes of the messages survey-streams reads (docs/reference.md, "Message shapes"), checked field by field.
Imports streams.core only (its errors, time parsing and config types)."""
