"""Which advertised URLs a worker calls (streams.runtime.peers, docs/security.md "Peers"), and the
setting that says so (STREAMS_PEER_NETWORKS)."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, strategies as st

from streams.runtime import peers
from streams.runtime.settings import SettingError, Settings

DEFAULT = peers.parse_networks(peers.DEFAULT_PEER_NETWORKS)


@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", True), ("127.255.255.254", True), ("::1", True),
    ("10.0.0.1", True), ("10.255.255.255", True), ("172.16.0.1", True), ("172.31.255.255", True),
    ("192.168.1.20", True), ("fc00::1", True), ("fd12:3456::1", True),
    ("172.15.255.255", False), ("172.32.0.1", False), ("192.169.0.1", False), ("11.0.0.1", False),
    ("8.8.8.8", False), ("169.254.169.254", False),  # the cloud metadata address: never a peer
    ("0.0.0.0", False), ("::", False), ("2001:db8::1", False), ("fe80::1", False), ("fe00::1", False),
    ("::ffff:10.0.0.1", True), ("::ffff:8.8.8.8", False),  # IPv4-mapped: judged as the IPv4 address
    ("::2", False), ("fe80::1%eth0", False), ("::1%lo", True),
    ("not-an-address", False), ("", False), ("10.0.0.1/8", False), ("localhost", False),
])
def test_the_default_networks_are_loopback_and_the_private_ranges(address, allowed):
    assert peers.address_allowed(address, DEFAULT) is allowed


@given(st.ip_addresses())
def test_an_address_is_allowed_exactly_when_a_default_network_holds_it(address):
    plain = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
    expected = any(plain.version == n.version and plain in n for n in DEFAULT)
    assert peers.address_allowed(address, DEFAULT) is expected
    assert peers.address_allowed(str(address), DEFAULT) is expected


@pytest.mark.parametrize("text, networks", [
    ("10.1.0.0/16", ["10.1.0.0/16"]),
    (" 10.1.0.0/16 , fd00::/8 ,", ["10.1.0.0/16", "fd00::/8"]),
    ("192.0.2.7", ["192.0.2.7/32"]),  # a bare address: that one host
    (peers.DEFAULT_PEER_NETWORKS, ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                   "fc00::/7"]),
])
def test_networks_parse(text, networks):
    assert peers.parse_networks(text) == tuple(ipaddress.ip_network(n) for n in networks)


@pytest.mark.parametrize("text, says", [
    ("10.0.0.1/8", "host bits"), ("bogus", "'bogus'"), ("10.0.0.0/33", "'10.0.0.0/33'"),
    ("10.0.0.0/8,, x", "'x'"), (",", "no network"), ("", "no network"),
])
def test_networks_that_do_not_parse_are_named(text, says):
    with pytest.raises(ValueError, match=says):
        peers.parse_networks(text)


def test_the_setting_defaults_and_its_errors_name_the_variable_and_the_value():
    assert Settings.from_env({}).peer_networks == DEFAULT
    assert Settings.from_env({"STREAMS_PEER_NETWORKS": "  "}).peer_networks == DEFAULT
    assert Settings.from_env({"STREAMS_PEER_NETWORKS": "10.9.0.0/16"}).peer_networks == \
        (ipaddress.ip_network("10.9.0.0/16"),)
    with pytest.raises(SettingError) as caught:
        Settings.from_env({"STREAMS_PEER_NETWORKS": "10.0.0.0/8,12.0.0.1/8"})
    assert caught.value.variable == "STREAMS_PEER_NETWORKS" and caught.value.value == "10.0.0.0/8,12.0.0.1/8"
    assert "STREAMS_PEER_NETWORKS='10.0.0.0/8,12.0.0.1/8'" in str(caught.value)


@pytest.mark.parametrize("variable, value", [
    ("STREAMS_WEB_PORT", "http"), ("STREAMS_SESSION_TIMEOUT_S", "nan"), ("STREAMS_SESSION_TIMEOUT_S", "ten"),
    ("STREAMS_STANDBY_REPLICAS", "1.5"), ("STREAMS_REDECIDE_PER_S", "inf"),
])
def test_numbers_that_do_not_parse_are_named_too(variable, value):
    with pytest.raises(SettingError) as caught:
        Settings.from_env({variable: value})
    assert (caught.value.variable, caught.value.value) == (variable, value)


@pytest.mark.parametrize("url, scheme, host, port, host_header", [
    ("http://127.0.0.1:6066", "http", "127.0.0.1", 6066, "127.0.0.1:6066"),
    ("http://worker-2.internal:6066/", "http", "worker-2.internal", 6066, "worker-2.internal:6066"),
    ("https://worker-2.internal", "https", "worker-2.internal", 443, "worker-2.internal"),
    ("http://[::1]:7000", "http", "::1", 7000, "[::1]:7000"),
    ("http://10.0.0.5", "http", "10.0.0.5", 80, "10.0.0.5"),
])
def test_an_advertised_url_names_its_target(url, scheme, host, port, host_header):
    target = peers.target(url)
    assert (target.scheme, target.host, target.port, target.host_header) == (scheme, host, port, host_header)


@pytest.mark.parametrize("url, says", [
    ("ftp://10.0.0.1:21", "scheme"), ("file:///etc/passwd", "scheme"), ("gopher://10.0.0.1", "scheme"),
    ("10.0.0.1:6066", "scheme"), ("http://", "no host"), ("http:///path", "no host"),
    ("http://user:pw@10.0.0.1:6066", "credentials"), ("http://u@10.0.0.1", "credentials"),
    ("http://[::1", "not a URL"), ("http://10.0.0.1:99999", "not a URL"), ("http://10.0.0.1:0", "port"),
])
def test_urls_that_are_no_http_origin_are_refused(url, says):
    with pytest.raises(peers.PeerNotAllowed, match=says) as caught:
        peers.target(url)
    assert caught.value.url == url


def test_every_resolved_address_must_be_inside_and_the_first_is_connected_to():
    named = peers.target("http://worker-2.internal:6066")
    assert peers.check_addresses(named, ["10.0.0.7", "fd00::7"], DEFAULT) == "10.0.0.7"
    with pytest.raises(peers.PeerNotAllowed, match="worker-2.internal resolves to 203.0.113.9"):
        peers.check_addresses(named, ["10.0.0.7", "203.0.113.9"], DEFAULT)  # one outside: refused whole
    with pytest.raises(peers.PeerNotAllowed, match="no address"):
        peers.check_addresses(named, [], DEFAULT)
    literal = peers.target("http://8.8.8.8:80")
    with pytest.raises(peers.PeerNotAllowed, match="8.8.8.8 is outside STREAMS_PEER_NETWORKS"):
        peers.check_addresses(literal, [literal.literal], DEFAULT)
    only_one = peers.parse_networks("10.0.0.0/8")
    with pytest.raises(peers.PeerNotAllowed):
        peers.check_addresses(peers.target("http://127.0.0.1:6066"), ["127.0.0.1"], only_one)


async def test_a_name_is_resolved_and_every_address_it_has_is_checked(monkeypatch):
    import dataclasses

    from streams.web import bridge

    bridge._resolved.clear()
    assert await bridge.peer_address(peers.target("http://localhost:6066")) in ("127.0.0.1", "::1")
    monkeypatch.setattr(bridge, "settings", dataclasses.replace(bridge.settings,
                                                                peer_networks=peers.parse_networks("10.0.0.0/8")))
    with pytest.raises(peers.PeerNotAllowed, match="localhost resolves to"):
        await bridge.peer_address(peers.target("http://localhost:6066"))  # the cached answer, checked again
    with pytest.raises(peers.PeerNotAllowed, match="127.0.0.1 is outside"):
        await bridge.peer_address(peers.target("http://127.0.0.1:6066"))
    mapped = await bridge.peer_address(peers.target("http://[::ffff:10.1.2.3]:6066"))
    assert ipaddress.ip_address(mapped).ipv4_mapped == ipaddress.ip_address("10.1.2.3")
