"""The widget in headless Chromium against a live worker: what a user clicks reaches segment.outbound.
Imports tests.harness; skips, saying so, when Chromium is absent."""
