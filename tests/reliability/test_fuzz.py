"""Bad input, fuzzed with hypothesis: kubeconfigs (YAML text and mappings), exec plugin output,
and EKS tokens as the lab's HTTPS API server sees them.

Contract: kom-async raises only its own errors (``KomError``: ``KubeconfigError``,
``EKSAuthError``, ``InvalidArgument``, ``ExecNotAllowed``, ``ExecPluginError``) for any input,
never hangs, and a mangled token is always a 401 — never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reliability_helpers import FUZZ_EXAMPLES as EXAMPLES
from reliability_helpers import exception_texts, kom_tasks, write_plugin

from kom_async import Clusters
from kom_async.auth.exec import parse_exec_credential
from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.eks import parse_eks_config
from kom_async.errors import KomError
from kom_async.lab import EKSLab

T = TypeVar("T")

CA_PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIBxzCCAW2gAwIBAgIUE9WYSHGQiX9tgr11KpTFB6pJj9EwCgYIKoZIzj0EAwIw\n"
    "-----END CERTIFICATE-----\n"
)

# -- strategies ---------------------------------------------------------------------------------

HUGE = st.sampled_from(["x" * 70_000, "é" * 20_000, "\U0001f600" * 5_000, "9" * 5_000])
WEIRD = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ufeff",
        "https://",
        "https://127.0.0.1:1",
        "http://[::1",
        "https://h:99999",
        "~/../../etc/passwd",
        "/dev/zero",
        "/dev/stdin",
        "/proc/self/fd/0",
        "/",
        "/nonexistent/file",
        "null",
        "!!python/object:os.system",
        "*alias",
        "=",
        "A=B",
        "k8s-aws-v1.",
    ]
)
TEXT = st.one_of(st.text(max_size=40), st.text(max_size=40), WEIRD, WEIRD, HUGE)  # huge: 1 in 5
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), TEXT, st.binary(max_size=8), st.dates()
)
ANY = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The field as expected, or the wrong type, or a weird/huge value, or absent."""
    return st.one_of(strategy, strategy, ANY, TEXT, st.just(_MISSING))


_MISSING = object()

SAFE_COMMANDS = [
    "false",
    "true",
    "kom-async-no-such-plugin",
    "/nonexistent/plugin",
    "/",
    "plugin\x00nul",
    "",
]


@st.composite
def exec_user(draw: st.DrawFn, commands: list[str]) -> Any:
    env_item = st.fixed_dictionaries(
        {"name": maybe(st.sampled_from(["AWS_PROFILE", "A=B", "", "X\x00", "HOME"])), "value": maybe(TEXT)}
    )
    spec = {
        "apiVersion": maybe(
            st.sampled_from(["client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1"])
        ),
        "command": maybe(st.sampled_from(commands)),
        "args": maybe(
            st.lists(
                st.one_of(TEXT, st.sampled_from(["eks", "get-token", "--cluster-name", "token", "-i"])),
                max_size=8,
            )
        ),
        "env": maybe(st.lists(env_item, max_size=3)),
        "interactiveMode": maybe(st.sampled_from(["Never", "IfAvailable", "Always"])),
        "provideClusterInfo": maybe(st.booleans()),
        "installHint": maybe(TEXT),
    }
    return {"exec": _drop_missing(draw(st.fixed_dictionaries(spec)))}


def _drop_missing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_missing(v) for k, v in value.items() if v is not _MISSING}
    if isinstance(value, list):
        return [_drop_missing(v) for v in value if v is not _MISSING]
    return value


@st.composite
def kubeconfig_docs(draw: st.DrawFn, commands: list[str] = SAFE_COMMANDS) -> Any:
    """Kubeconfig-shaped documents with any field wrong, weird, huge or missing."""
    name = draw(st.one_of(st.just("c"), TEXT))
    cluster = {
        "server": maybe(
            st.sampled_from(["https://127.0.0.1:6443", "http://127.0.0.1:1", "https://example.invalid"])
        ),
        "certificate-authority-data": maybe(
            st.sampled_from([base64.b64encode(CA_PEM.encode()).decode(), "!!!", "QUJD", ""])
        ),
        "certificate-authority": maybe(st.sampled_from(["/dev/zero", "/nonexistent", "/", "ca\x00.pem"])),
        "insecure-skip-tls-verify": maybe(st.booleans()),
        "tls-server-name": maybe(TEXT),
        "proxy-url": maybe(TEXT),
    }
    user = st.one_of(
        st.fixed_dictionaries({"token": maybe(TEXT)}),
        st.fixed_dictionaries(
            {"tokenFile": maybe(st.sampled_from(["/dev/zero", "/nonexistent", "/", "t\x00"]))}
        ),
        st.fixed_dictionaries(
            {
                "client-certificate-data": maybe(st.sampled_from(["QUJD", "!!"])),
                "client-key-data": maybe(TEXT),
            }
        ),
        st.fixed_dictionaries({"username": maybe(TEXT), "password": maybe(TEXT)}),
        st.fixed_dictionaries({"auth-provider": maybe(ANY)}),
        exec_user(commands),
        ANY,
    )
    doc = {
        "apiVersion": maybe(st.just("v1")),
        "kind": maybe(st.just("Config")),
        "clusters": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {"name": maybe(st.just(name)), "cluster": maybe(st.fixed_dictionaries(cluster))}
                ),
                max_size=2,
            )
        ),
        "users": maybe(
            st.lists(st.fixed_dictionaries({"name": maybe(st.just(name)), "user": maybe(user)}), max_size=2)
        ),
        "contexts": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "name": maybe(st.just(name)),
                        "context": maybe(
                            st.fixed_dictionaries(
                                {
                                    "cluster": maybe(st.just(name)),
                                    "user": maybe(st.just(name)),
                                    "namespace": maybe(TEXT),
                                }
                            )
                        ),
                    }
                ),
                max_size=2,
            )
        ),
        "current-context": maybe(st.just(name)),
    }
    return _drop_missing(draw(st.fixed_dictionaries(doc)))


def to_yaml(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return str(doc)


YAML_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "a: &a [*a]",  # recursive alias
            "a: &x [1]\nb: [*x, *x, *x]\n" * 3,
            "!!python/object/apply:os.system ['true']",
            "%YAML 9.9\n---\na: 1",
            "? [1, 2]\n: 3",
            "---\n...\n---\n",
            "\t- x",
            "current-context: c\ncontexts: {}\n",
            "[" * 5000,
            "{" * 5000,
            "a: " + "x" * 100_000,
        ]
    ),
)


def only_kom_errors(fn: Callable[[], T]) -> T | None:
    """Run ``fn``; a KomError is fine (the conftest checks it shows no secret), anything else
    propagates and fails the example."""
    try:
        return fn()
    except KomError as exc:
        assert exception_texts(exc)  # str() and repr() work on every error
        return None


# -- kubeconfig loading -------------------------------------------------------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.one_of(YAML_TEXT, kubeconfig_docs().map(to_yaml)))
def test_any_kubeconfig_text_loads_or_raises_a_kubeconfig_error(text: str) -> None:
    EXAMPLES["load_kubeconfig(yaml text)"] += 1
    started = time.perf_counter()
    only_kom_errors(lambda: load_kubeconfig(text))
    only_kom_errors(lambda: load_kubeconfig(text.encode("utf-8", "surrogatepass")))
    assert time.perf_counter() - started < 10


@FUZZ
@given(
    st.one_of(
        kubeconfig_docs(), st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), ANY, max_size=6)
    )
)
def test_any_kubeconfig_mapping_loads_or_raises_a_kubeconfig_error(doc: Any) -> None:
    EXAMPLES["load_kubeconfig(mapping)"] += 1
    only_kom_errors(lambda: load_kubeconfig(doc))
    only_kom_errors(lambda: load_kubeconfig(doc, context="c"))


@FUZZ
@given(st.one_of(YAML_TEXT, kubeconfig_docs(["aws", "aws-iam-authenticator", *SAFE_COMMANDS]).map(to_yaml)))
def test_parse_eks_config_raises_only_kubeconfig_or_eks_errors(text: str) -> None:
    EXAMPLES["parse_eks_config"] += 1
    only_kom_errors(lambda: parse_eks_config(text))


# -- registration (runs the exec plugins it is given: only harmless ones) -----------------------


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[Callable[[Coroutine[Any, Any, T]], T]]:
    """An event loop in a thread, so sync hypothesis tests can drive async code."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-loop", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    try:
        yield run
    finally:

        async def drain() -> None:
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        run(drain())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzzplugins")
    write_plugin(
        folder,
        "garbage",
        "import sys; sys.stdout.write('\\x00\\xff not json'); sys.stderr.write('x' * 100000)",
    )
    write_plugin(
        folder,
        "good",
        "import json; print(json.dumps({'kind': 'ExecCredential', 'apiVersion': "
        "'client.authentication.k8s.io/v1beta1', 'status': {'token': 'fuzz-plugin-token'}}))",
    )
    write_plugin(folder, "sleeper", "import time; time.sleep(30)")
    return folder


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_register_by_string_raises_only_kom_errors_and_never_hangs(
    data: st.DataObject, loop_thread: Callable[[Coroutine[Any, Any, Any]], Any], plugin_dir: Path
) -> None:
    commands = [*SAFE_COMMANDS, *(str(plugin_dir / n) for n in ("garbage", "good", "sleeper"))]
    doc = data.draw(kubeconfig_docs(commands))
    as_text = data.draw(st.booleans())
    EXAMPLES["Clusters.register_by_string"] += 1

    async def attempt() -> None:
        async with Clusters() as clusters:
            try:
                await clusters.register_by_string(
                    to_yaml(doc) if as_text else doc, token_source="exec", exec_timeout=0.5
                )
            except KomError:
                pass
            assert [t for t in kom_tasks() if not t.done()] == [] or len(clusters) == 1
        assert kom_tasks() == []

    started = time.perf_counter()
    loop_thread(attempt(), 30)
    assert time.perf_counter() - started < 10


# -- exec plugin output -------------------------------------------------------------------------

V1B1 = "client.authentication.k8s.io/v1beta1"

CREDENTIAL = st.fixed_dictionaries(
    {
        "kind": maybe(st.just("ExecCredential")),
        "apiVersion": maybe(st.just(V1B1)),
        "spec": maybe(ANY),
        "status": maybe(
            st.one_of(
                ANY,
                st.fixed_dictionaries(
                    {
                        "token": maybe(TEXT),
                        "expirationTimestamp": maybe(
                            st.one_of(
                                st.datetimes().map(lambda d: d.isoformat() + "Z"),
                                st.datetimes().map(lambda d: d.isoformat()),
                                st.sampled_from(
                                    [
                                        "2030-01-01T00:00:00Z",
                                        "2030-02-30T00:00:00Z",
                                        "9999-12-31T23:59:59+99:00",
                                        "0001-01-01T00:00:00-23:59",
                                    ]
                                ),
                                TEXT,
                            )
                        ),
                        "clientCertificateData": maybe(TEXT),
                    }
                ),
            )
        ),
    }
).map(_drop_missing)


def _dump(doc: Any) -> bytes:
    try:
        return json.dumps(doc, default=str).encode()
    except (ValueError, TypeError):
        return b"{}"


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        CREDENTIAL.map(_dump),
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.just(b"[" * 100_000),
    )
)
def test_any_exec_plugin_output_parses_or_gives_a_reason(stdout: bytes) -> None:
    EXAMPLES["parse_exec_credential"] += 1
    token, reason = parse_exec_credential(stdout, api_version=V1B1)
    assert (token is None) != (reason is None)
    if token is not None:
        assert token.value and "\n" not in token.value and token.value not in repr(token)
    else:
        assert isinstance(reason, str) and len(reason) < 300


# -- tokens as the lab API server sees them ------------------------------------------------------


class LabClient:
    """A blocking HTTPS client for the lab API server (one keep-alive connection)."""

    def __init__(self, server: str, ca_pem: str) -> None:
        rest = server.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        self.host, self.port, self.path = host, int(port), "/" + path + "/api/v1/namespaces"
        self.ctx = ssl.create_default_context(cadata=ca_pem)
        self.conn: http.client.HTTPSConnection | None = None

    def status(self, token: str) -> int:
        for _ in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
            try:
                self.conn.request("GET", self.path, headers={"Authorization": f"Bearer {token}"})
                response = self.conn.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
        raise AssertionError("the lab API server did not answer")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@pytest.fixture(scope="module")
def token_target(loop_thread: Callable[[Coroutine[Any, Any, Any]], Any]) -> Iterator[tuple[LabClient, str]]:
    lab = EKSLab()

    async def start() -> str:
        await lab.start()
        await lab.create_cluster("fuzz")
        async with Clusters() as clusters:
            await clusters.register_eks_by_string(lab.kubeconfig("fuzz"), cluster_id="fuzz")
            provider = clusters.get("fuzz").token_provider
            assert provider is not None and provider.token is not None
            return provider.token.value

    token = loop_thread(start())
    client = LabClient(lab.cluster("fuzz").server, lab.ca_pem)
    try:
        assert client.status(token) == 200
        yield client, token
    finally:
        client.close()
        loop_thread(lab.aclose())


def _b64(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def _url(token: str) -> str | None:
    try:
        payload = token[len("k8s-aws-v1.") :]
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


HEADER_SAFE = st.characters(min_codepoint=0x21, max_codepoint=0xFF, blacklist_characters="\x7f")


@st.composite
def mangled(draw: st.DrawFn, token: str) -> str:
    url = _url(token)
    assert url is not None
    base, _, query = url.partition("?")
    params = query.split("&")
    kind = draw(
        st.sampled_from(["truncate", "pad", "host", "extra", "duplicate", "drop", "flip", "junk", "header"])
    )
    if kind == "truncate":
        return token[: draw(st.integers(0, len(token) - 1))]
    if kind == "pad":
        return token + draw(st.sampled_from(["=", "==", "===", "%3D", " ", "\t", "."]))
    if kind == "host":
        host = draw(
            st.sampled_from(
                [
                    "sts.amazonaws.com",
                    "sts.us-east-1.amazonaws.com",
                    "sts.amazonaws.com.evil.example",
                    "evil.example",
                    "127.0.0.1:1",
                    "sts.us-east-1.amazonaws.com:443@evil.example",
                    "",
                ]
            )
        )
        scheme, _, rest = base.partition("://")
        return _b64(f"{scheme}://{host}/{rest.partition('/')[2]}?{query}")
    if kind == "extra":
        key = draw(
            st.one_of(
                st.sampled_from(["X-Amz-Expires", "Action", "Version", "foo", "", "x-amz-security-token"]),
                st.text(HEADER_SAFE, max_size=8),
            )
        )
        value = draw(st.text(HEADER_SAFE, max_size=12))
        return _b64(f"{url}&{key}={value}")
    if kind == "duplicate":
        param = draw(st.sampled_from(params))
        return _b64(f"{url}&{param}")
    if kind == "drop":
        index = draw(st.integers(0, len(params) - 1))
        return _b64(base + "?" + "&".join(p for i, p in enumerate(params) if i != index))
    if kind == "flip":
        index = draw(st.integers(len("k8s-aws-v1."), len(token) - 1))
        char = draw(st.sampled_from("ABCabc019-_"))
        return token[:index] + char + token[index + 1 :]
    if kind == "header":  # sign for another cluster name
        return _b64(url.replace("x-k8s-aws-id", "x-k8s-aws-iD"))
    return "k8s-aws-v1." + draw(st.text(HEADER_SAFE, max_size=200))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_mangled_token_is_always_a_401_never_a_500(
    data: st.DataObject, token_target: tuple[LabClient, str]
) -> None:
    client, token = token_target
    bad = data.draw(mangled(token))
    assume(bad != token and _url(bad) != _url(token))
    EXAMPLES["mangled EKS token over HTTPS"] += 1
    assert client.status(bad) == 401

