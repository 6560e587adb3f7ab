"""Integration tests against the real Kafka broker the session starts (tests/conftest.py) and real worker processes.
They import tests.harness and the clients users have (kafka-python, Segment's library, the bridge over HTTP); never a mock of Kafka."""
