"""Faust agents. Each stays thin: decode, call the pure logic, send."""
