"""The one host parser reads a server URL's host exactly as the transport (aiohttp over yarl) will
connect to it, and every host rule reads that host: a table of spellings, checked against yarl
itself and against the rules that use it."""

from __future__ import annotations

import ipaddress

import pytest
import yarl
from attacker import hostile_kubeconfig

from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.config.policy import UNTRUSTED, TrustPolicy, normalize_server
from kom_async.config.urls import canonical_server, parse_server, server_url_problem
from kom_async.errors import KubeconfigRefused

# (server as written, the address the transport connects to)
METADATA_SPELLINGS = [
    ("https://169.254.169.254", "169.254.169.254"),
    (
        "https://\u2460\u2465\u2468.\u2461\u2464\u2463.\u2460\u2465\u2468.\u2461\u2464\u2463",
        "169.254.169.254",
    ),  # circled
    (
        "https://\uff11\uff16\uff19\uff0e\uff12\uff15\uff14\uff0e\uff11\uff16\uff19\uff0e\uff12\uff15\uff14",
        "169.254.169.254",
    ),  # fullwidth
    ("https://169\u3002254\u3002169\u3002254", "169.254.169.254"),  # ideographic full stop
    ("https://169.254.169.254.:443/latest", "169.254.169.254"),
    ("https://2852039166", "169.254.169.254"),  # one decimal number
    ("https://0xa9fea9fe", "169.254.169.254"),  # one hex number
    ("https://0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("https://0251.0376.0251.0376", "169.254.169.254"),  # octal
    ("https://169.254.43518", "169.254.169.254"),  # a.b.c with c 16 bits
    (
        "https://\uff12\uff18\uff15\uff12\uff10\uff13\uff19\uff11\uff16\uff16",
        "169.254.169.254",
    ),  # fullwidth number
    ("https://[::ffff:169.254.169.254]", "169.254.169.254"),
    ("https://[::ffff:a9fe:a9fe]:6443", "169.254.169.254"),
    ("https://[64:ff9b::a9fe:a9fe]", "169.254.169.254"),  # NAT64
    ("https://[64:ff9b::169.254.169.254]", "169.254.169.254"),
    ("https://[fe80::1%25eth0]:6443", "fe80::1"),
    ("https://[fd00:ec2::254]", "fd00:ec2::254"),  # EC2 IMDS over IPv6
    ("https://[fd00:ec2::23]", "fd00:ec2::23"),  # EKS Pod Identity agent
    ("https://[FD00:EC2:0:0:0:0:0:23]:443", "fd00:ec2::23"),
    ("https://[::ffff:169.254.170.23]", "169.254.170.23"),  # Pod Identity, IPv4-mapped
    ("https://169.254.170.23", "169.254.170.23"),  # EKS Pod Identity agent
    ("https://169.254.170.2", "169.254.170.2"),  # ECS task credentials
    ("https://[64:ff9b::a9fe:aa02]", "169.254.170.2"),  # ECS, NAT64
    ("https://2852039170", "169.254.170.2"),
    ("https://[fd20:ce::254]", "fd20:ce::254"),  # GCP metadata over IPv6
]


@pytest.mark.parametrize(("server", "address"), METADATA_SPELLINGS)
def test_every_spelling_of_a_metadata_address_is_read_as_the_transport_reads_it_and_refused(
    server: str, address: str
) -> None:
    parsed = parse_server(server)
    assert parsed.host.split("%")[0].rstrip(".") == (yarl.URL(server).raw_host or "").lower().split("%")[
        0
    ].rstrip(".")
    assert parsed.address == ipaddress.ip_address(address)
    assert server_url_problem(server) is None  # a valid URL: the metadata rule is what refuses it
    selection = load_kubeconfig(hostile_kubeconfig(server, {"token": "agent-own"}))
    assert parse_server(selection.server).address == ipaddress.ip_address(address)  # kept as connected
    for policy in (UNTRUSTED, TrustPolicy.untrusted(pin_servers=True)):
        with pytest.raises(KubeconfigRefused, match="link-local / cloud metadata"):
            policy.check_selection(selection, eks=False)


@pytest.mark.parametrize(
    ("server", "host", "normalized"),
    [
        ("https://K8S.Example.COM.:6443/", "k8s.example.com.", "https://k8s.example.com:6443"),
        ("https://\uff2b\uff18\uff33.example.com", "k8s.example.com", "https://k8s.example.com:443"),
        ("https://b\u00fccher.example", "xn--bcher-kva.example", "https://xn--bcher-kva.example:443"),
        ("https://xn--bcher-kva.example:443", "xn--bcher-kva.example", "https://xn--bcher-kva.example:443"),
        (
            "https://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11:6443/p/",
            "127.0.0.1",
            "https://127.0.0.1:6443/p",
        ),
        ("https://u:p@localhost", "localhost", "https://localhost:443"),
        ("http://[::1]", "::1", "http://[::1]:80"),
        ("https://[0:0:0:0:0:0:0:1]:6443", "::1", "https://[::1]:6443"),
    ],
)
def test_names_and_ordinary_addresses_parse_as_yarl_reads_them(
    server: str, host: str, normalized: str
) -> None:
    parsed = parse_server(server)
    assert parsed.host == host == (yarl.URL(server).raw_host or "").lower()
    assert normalize_server(server) == normalized
    assert parsed.address is None or not parsed.address.is_link_local


def test_the_server_kept_is_the_one_the_transport_connects_to() -> None:
    wide = "https://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11:6443/base/"
    assert canonical_server(wide) == "https://127.0.0.1:6443/base"
    assert canonical_server("https://H.example.:6443") == "https://h.example.:6443"
    assert canonical_server("https://[::1]") == "https://[::1]"
    # allowlist entries in another spelling name the same server
    policy = TrustPolicy.untrusted(allowed_servers=[wide])
    assert policy.server_allowed("https://127.0.0.1:6443/base")


def test_a_malformed_server_is_a_typed_refusal() -> None:
    with pytest.raises(KubeconfigRefused, match="malformed"):
        normalize_server("https://[::1")
    assert server_url_problem("https://h:0") is not None
    assert server_url_problem("https://h:70000") is not None
