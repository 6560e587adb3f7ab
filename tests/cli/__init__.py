"""Tests of the commands' own logic (report's points and figures) without a broker.
They import streams.cli and what it imports."""
