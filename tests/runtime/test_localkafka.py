"""streams.runtime.localkafka's parts that need no JVM."""
from __future__ import annotations

import base64
import socket
import uuid

from streams.runtime import localkafka


def test_cluster_ids_have_the_form_kafka_storage_prints():
    ids = {localkafka.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22 and "=" not in cluster_id
        assert uuid.UUID(bytes=base64.urlsafe_b64decode(cluster_id + "=="))


def test_listening_tells_an_open_port_from_a_closed_one():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert localkafka._listening(port)
    assert not localkafka._listening(port)
