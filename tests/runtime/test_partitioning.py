"""The fast partitioner puts every key where Kafka's default partitioner does."""
from aiokafka.partitioner import DefaultPartitioner as AiokafkaPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.runtime.partitioning import DefaultPartitioner, murmur2


@settings(max_examples=2000)
@given(st.binary(max_size=300))
def test_murmur2_equals_aiokafkas_for_any_bytes(data):
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.text(max_size=80), st.integers(min_value=1, max_value=64))
def test_a_key_goes_to_the_same_partition_as_with_aiokafka(key, count):
    raw, partitions = key.encode("utf-8", "surrogatepass"), list(range(count))
    assert DefaultPartitioner()(raw, partitions, partitions) == AiokafkaPartitioner()(raw, partitions, partitions)


def test_known_values_of_the_java_client():
    # org.apache.kafka.common.utils.Utils.murmur2 (UtilsTest): "21" -> -973932308, "foobar" -> -790332482.
    assert murmur2(b"21") - (1 << 32) == -973932308
    assert murmur2(b"foobar") - (1 << 32) == -790332482


def test_no_key_goes_to_an_available_partition():
    assert DefaultPartitioner()(None, [0, 1, 2, 3], [2]) == 2
    assert DefaultPartitioner()(None, [0, 1, 2, 3], []) in (0, 1, 2, 3)
