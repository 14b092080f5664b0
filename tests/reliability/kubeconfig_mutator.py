"""Mutated kubeconfigs for the register-and-first-request fuzz test: fast, seeded, loopback-only.

Each sample starts from a working lab kubeconfig and gets one to three mutations: a field
deleted, set to a hostile value, given another field's value, a string cut or spiked with
URL and YAML metacharacters, or (one in five) the YAML text itself damaged. Registration
options (``exec_timeout``, ``cluster_id``, ``context``...) are mutated too.

Samples whose text names a host other than loopback are dropped before use, so a mutation
can never make the test send traffic off this machine.
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

HOSTILE: list[Any] = [
    None, "", " ", 0, -1, 2**64, 1.5, math.nan, math.inf, True, False, [], {}, [None], {"": None},
    "x" * 70_000, "\x00", "a\nb", "\u2028", "é", "../../etc/passwd", "/dev/zero", "/nonexistent", "/",
    "%2e%2e", "..", "*", "~", "=", "A=B", "https://[::1", "https://127.0.0.1:99999", "https://127.0.0.1:0",
    "http://127.0.0.1:1", "https://u:p@127.0.0.1:1", "https://127.0.0.1:1/?x=1#f", "https://", "ftp://127.0.0.1",
    "https://127.0.0.1:1:2", "https://[::1]:1", "https://localhost:1", "https://127.0.0.1 :1",
    "!!python/object:os.system", "QUJD", "!!!", "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n",
    "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v9", "Never", "Always",
    datetime.date(2020, 1, 1), b"\xff\xfe", "k8s-aws-v1.", "eks", "get-token", "--cluster-name",
]
#: what a token field may become: never a value that other fields hold (the suite's leak
#: detector learns every token built, and would then see a "leak" in errors quoting that field)
TOKEN_VALUES = ["", " ", "\x00", "t\nt", "t" * 70_000, "tê", 5, None, [], {}, "Bearer t", "tok en", "t\x7ft"]
SPIKES = "@:/%[]{}?#\x00\n\t é*&!|>'\"\\"
OPTION_VALUES: dict[str, list[Any]] = {
    "exec_timeout": ["5", None, -1, 0, math.nan, math.inf, True, [], 1e-9, 2**70],
    "cluster_id": ["", " ", "a\nb", "x" * 300, 5, None, "\x1b[2J", "ok-id", ["x"]],
    "context": ["", "nope", 5, "a\nb", None],
    "replace": ["yes", None, 1, []],
    "token_source": ["auto", "bogus", None, 3],  # not "exec": that runs the real aws CLI (~1 s)
}
_AUTHORITY = re.compile(r"://([^/\s'\"?#]*)")  # no scheme part: linear on long text
_LOOPBACK_NAMES = {"localhost", ""}
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class Sample:
    """One mutated registration: the kubeconfig (YAML text or mapping) and keyword options."""

    kubeconfig: str | dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    mutations: list[str] = field(default_factory=list)


def samples(
    seeds: list[dict[str, Any]], count: int, seed: int, weights: list[int] | None = None
) -> Iterator[Sample]:
    """``count`` loopback-safe mutated samples of ``seeds`` (picked by ``weights``),
    reproducible from ``seed``."""
    rng = random.Random(seed)
    made = 0
    while made < count:
        sample = _mutate(rng, rng.choices(seeds, weights)[0])
        if loopback_only(sample):
            made += 1
            yield sample


def _mutate(rng: random.Random, seed_doc: dict[str, Any]) -> Sample:
    doc = copy.deepcopy(seed_doc)
    done: list[str] = []
    for _ in range(rng.randint(1, 3)):
        done.append(_mutate_tree(rng, doc))
    options: dict[str, Any] = {}
    for name, values in OPTION_VALUES.items():
        if rng.random() < 0.04:
            options[name] = rng.choice(values)
            done.append(f"option {name}={options[name]!r:.40}")
    if rng.random() < 0.2:
        text = _dump(doc)
        done.append("text")
        return Sample(_mutate_text(rng, text), options, done)
    return Sample(_dump(doc) if rng.random() < 0.5 else doc, options, done)


def _slots(node: Any, path: str = "") -> Iterator[tuple[Any, Any, str]]:
    """Every (container, key/index, path) in the tree."""
    if isinstance(node, dict):
        for key in list(node):
            yield node, key, f"{path}.{key}"
            yield from _slots(node[key], f"{path}.{key}")
    elif isinstance(node, list):
        for index in range(len(node)):
            yield node, index, f"{path}[{index}]"
            yield from _slots(node[index], f"{path}[{index}]")


def _mutate_tree(rng: random.Random, doc: dict[str, Any]) -> str:
    slots = list(_slots(doc))
    container, key, path = rng.choice(slots)
    if ".env" in path and rng.random() < 0.9:
        # each distinct exec env costs a new AWS client (~0.2 s): fuzz env, but not mostly env
        container, key, path = rng.choice(slots)
    op = rng.random()
    if key in ("token", "password"):
        container[key] = copy.deepcopy(rng.choice(TOKEN_VALUES)) if op < 0.5 else _spike(rng, "t" * 20)
        return f"token {path}"
    if op < 0.2:
        del container[key]
        return f"del {path}"
    if op < 0.5:
        container[key] = copy.deepcopy(rng.choice(HOSTILE))
        return f"set {path}"
    if op < 0.6:
        other_container, other_key, other_path = rng.choice(slots)
        if any(part in other_path for part in (".token", ".password", ".env")):
            other_container, other_key = {"x": None}, "x"  # copying a secret elsewhere is no test
        container[key] = copy.deepcopy(other_container[other_key])
        return f"copy {other_path} into {path}"
    if op < 0.9 and isinstance(container[key], str):
        container[key] = _spike(rng, container[key])
        return f"spike {path}"
    if isinstance(container, dict):
        container[rng.choice(["", "\x00", "name", "x" * 300, "exec"])] = container.pop(key)
        return f"rename {path}"
    container.append(copy.deepcopy(container[key]))
    return f"dup {path}"


def _spike(rng: random.Random, text: str) -> str:
    at = rng.randint(0, len(text))
    choice = rng.random()
    if choice < 0.3:
        return text[:at]
    if choice < 0.8:
        return text[:at] + rng.choice(SPIKES) * rng.randint(1, 3) + text[at:]
    return text.upper() if choice < 0.9 else text * 3


def _mutate_text(rng: random.Random, text: str) -> str:
    data = bytearray(text.encode())
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data))
        what = rng.random()
        if what < 0.4:
            data[at] = rng.choice(b"\x00\t\n :-[]{}&*!|>'\"%@#?,")
        elif what < 0.7:
            del data[at : at + rng.randint(1, 40)]
        else:
            data[at:at] = data[rng.randrange(len(data)) :][: rng.randint(1, 80)]
    return data.decode("utf-8", "replace")


def _dump(doc: Any) -> str:
    try:
        # libyaml's emitter: the pure-Python one spends ~25 ms per document on long scalars
        return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, width=1 << 20)
    except yaml.YAMLError:
        return str(doc)


def loopback_only(sample: Sample) -> bool:
    """True unless some URL-shaped text in the sample names a host that is not loopback."""
    text = sample.kubeconfig if isinstance(sample.kubeconfig, str) else repr(sample.kubeconfig)
    return all(is_loopback(m.group(1)) for m in _AUTHORITY.finditer(text))


def is_loopback(authority: str) -> bool:
    """True for an ``[user@]host[:port]`` whose host is 127.0.0.0/8, ::1, localhost or invalid."""
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # not an IP literal: it would be looked up by name; only exact loopback names pass
        return False
