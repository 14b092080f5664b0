"""The token verifier rejects every malformed, tampered, misdirected or stale token with a reason."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kom_async.lab.authn import Authenticator, IdentityMap
from kom_async.lab.aws import AWSCredential, canonical_arn
from kom_async.lab.state import ClusterState
from kom_async.lab.status import ApiError
from kom_async.lab.verifier import TokenRejected, verify_eks_token

STS = "127.0.0.1:4566"
USER = AWSCredential(
    "AKIALABTESTKEY000001", "s3cr3t/lab+key" * 3, None, "arn:aws:iam::123456789012:user/alice", "123456789012"
)
ROLE = AWSCredential(
    "ASIALABTESTKEY000002",
    "r0le-secret" * 4,
    "FwoGZXIvYXdzE//session+token==",
    "arn:aws:sts::123456789012:assumed-role/admins/alice-session",
    "123456789012",
)
KEYS = {c.access_key_id: c for c in (USER, ROLE)}


def mint(
    cred: AWSCredential,
    cluster: str = "c1",
    endpoint: str | None = f"http://{STS}",
    secret: str | None = None,
) -> str:
    """A token exactly as botocore presigns it (the code path of ``aws eks get-token``)."""
    with quiet_botocore():
        return _mint(cred, cluster, endpoint, secret)


@contextlib.contextmanager
def quiet_botocore() -> Iterator[None]:
    """botocore logs presigned URLs at DEBUG; keep them out of the suite's leak check."""
    logger = logging.getLogger("botocore")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _mint(cred: AWSCredential, cluster: str, endpoint: str | None, secret: str | None) -> str:
    session = botocore.session.Session()
    client = session.create_client(
        "sts",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=cred.access_key_id,
        aws_secret_access_key=secret or cred.secret_access_key,
        aws_session_token=cred.session_token,
    )

    def add_cluster_header(request: object, **_: object) -> None:
        request.headers["x-k8s-aws-id"] = cluster  # type: ignore[attr-defined]

    client.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url = client.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    client.close()
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def verify(token: str, cluster: str = "c1", now: datetime | None = None):  # type: ignore[no-untyped-def]
    return verify_eks_token(
        token,
        cluster_id=cluster,
        now=now or datetime.now(UTC),
        lookup=KEYS.get,
        local_sts_hosts={STS},
    )


def url_of(token: str) -> str:
    payload = token[len("k8s-aws-v1.") :]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def token_of(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def with_query(token: str, edit) -> str:  # type: ignore[no-untyped-def]
    parts = urlsplit(url_of(token))
    pairs = edit(parse_qsl(parts.query, keep_blank_values=True))
    return token_of(urlunsplit(parts._replace(query=urlencode(pairs))))


@pytest.fixture(scope="module")
def good() -> str:
    return mint(USER)


def test_a_botocore_presigned_token_is_accepted_and_names_its_user(good: str) -> None:
    ident = verify(good)
    assert ident.arn == USER.arn
    assert ident.access_key_id == USER.access_key_id


def test_an_assumed_role_token_resolves_to_the_role_arn() -> None:
    ident = verify(mint(ROLE))
    assert ident.caller_arn == ROLE.arn
    assert ident.arn == "arn:aws:iam::123456789012:role/admins"
    assert canonical_arn(USER.arn) == USER.arn


def test_tokens_for_the_public_https_sts_endpoints_verify_offline() -> None:
    assert verify(mint(USER, endpoint=None)).arn == USER.arn
    assert verify(mint(USER, endpoint="https://sts.amazonaws.com")).arn == USER.arn


#: what was done to a good token -> the reason the verifier must give (not merely *a* rejection)
def reasons() -> Iterator[tuple[str, str, str]]:
    base = mint(USER)
    url = url_of(base)
    sig = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = "0" if sig[10] != "0" else "1"
    signature = "signature does not match"
    not_base64url = "token payload is not unpadded base64url"
    not_sts = "presigned URL is not for an STS endpoint"
    repeated = "presigned URL repeats a query parameter"
    bad_expires = "X-Amz-Expires is not an integer in 0..900"
    no_prefix = "token lacks the EKS token prefix"
    yield "tampered signature", token_of(url.replace(sig, sig[:10] + flipped + sig[11:])), signature
    yield "truncated", base[:-7], signature  # the signature loses its last hex digits
    yield "padded", base + "=" * (-len(base[11:]) % 4 or 4), not_base64url
    yield "standard base64", "k8s-aws-v1." + base64.b64encode(url.encode()).decode(), not_base64url
    yield "wrong prefix", "k8s-aws-v2." + base[11:], no_prefix
    yield "too long", base + "A" * 4096, "token is longer than 4096 bytes"
    yield "wrong host", token_of(url.replace(STS, "evil.example.com")), not_sts
    yield (
        "http to a public host",
        token_of(url.replace(f"http://{STS}", "http://sts.amazonaws.com")),
        not_sts,
    )
    yield "wrong path", token_of(url.replace(f"{STS}/?", f"{STS}/x?")), "presigned URL path is not /"
    yield (
        "extra param",
        with_query(base, lambda q: [*q, ("Foo", "bar")]),
        "presigned URL has a query parameter that is not allowed",
    )
    yield "duplicate param", with_query(base, lambda q: [*q, ("Action", "GetCallerIdentity")]), repeated
    yield (
        "duplicate param, other case",
        with_query(base, lambda q: [*q, ("action", "GetCallerIdentity")]),
        repeated,
    )
    yield (
        "other action",
        with_query(base, lambda q: [(k, "AssumeRole" if k == "Action" else v) for k, v in q]),
        "presigned URL action is not GetCallerIdentity",
    )
    yield (
        "cluster id not signed",
        with_query(base, lambda q: [(k, "host" if k == "X-Amz-SignedHeaders" else v) for k, v in q]),
        "x-k8s-aws-id is not a signed header",
    )
    yield (
        "expires too big",
        with_query(base, lambda q: [(k, "901" if k == "X-Amz-Expires" else v) for k, v in q]),
        bad_expires,
    )
    yield (
        "expires not a number",
        with_query(base, lambda q: [(k, "6O" if k == "X-Amz-Expires" else v) for k, v in q]),
        bad_expires,
    )
    yield "wrong secret", mint(USER, secret="not-the-secret-at-all-000000000000000000"), signature
    yield (
        "unknown key",
        mint(AWSCredential("AKIAUNKNOWN000000000", "x" * 40, None, "arn:x", "1")),
        "unknown access key",
    )
    yield (
        "session token stripped",
        with_query(mint(ROLE), lambda q: [(k, v) for k, v in q if k != "X-Amz-Security-Token"]),
        "security token does not match",
    )
    yield "empty", "", no_prefix
    yield "prefix only", "k8s-aws-v1.", not_base64url


#: (what, reason) at collection; the tokens themselves are minted when the module runs, since a
#: token minted at collection may be past its 15 minutes by the time a slow run verifies it
CASES = [(what, reason) for what, _, reason in reasons()]


@pytest.fixture(scope="module")
def bad_tokens() -> dict[str, str]:
    return {what: token for what, token, _ in reasons()}


@pytest.mark.parametrize(("what", "reason"), CASES, ids=[w for w, _ in CASES])
def test_a_bad_token_is_rejected_for_the_right_reason(bad_tokens: dict[str, str], what: str, reason: str) -> None:
    with pytest.raises(TokenRejected) as info:
        verify(bad_tokens[what])
    assert info.value.reason == reason, f"{what}: rejected, but because {info.value.reason!r}"


def test_a_token_for_another_cluster_is_rejected(good: str) -> None:
    with pytest.raises(TokenRejected, match="signature"):
        verify(good, cluster="c2")


def test_a_token_is_accepted_for_15_minutes_after_signing_whatever_x_amz_expires_says(
    good: str,
) -> None:
    signed = verify(good).signed_at
    assert verify(good, now=signed + timedelta(minutes=14, seconds=59))
    with pytest.raises(TokenRejected, match="expired"):
        verify(good, now=signed + timedelta(minutes=15, seconds=1))
    with pytest.raises(TokenRejected, match="future"):
        verify(good, now=signed - timedelta(minutes=6))


def test_rejection_messages_never_contain_the_token_or_the_secret(good: str) -> None:
    for _, token, _ in reasons():
        try:
            verify(token)
        except TokenRejected as exc:
            text = str(exc) + repr(exc)
            assert "k8s-aws-v1." not in text and USER.secret_access_key not in text
            assert "X-Amz-Signature" not in text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_random_strings_are_always_rejected_cleanly(text: str) -> None:
    for candidate in (text, "k8s-aws-v1." + text):
        with pytest.raises(TokenRejected):
            verify(candidate)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_base64url_payloads_are_always_rejected_cleanly(raw: bytes) -> None:
    with pytest.raises(TokenRejected):
        verify("k8s-aws-v1." + base64.urlsafe_b64encode(raw).decode().rstrip("="))


MUTATION_BASE = mint(USER)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_single_character_change_to_a_valid_token_is_rejected(data: st.DataObject) -> None:
    token = MUTATION_BASE
    i = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    ch = data.draw(st.sampled_from("ABCXYZabcxyz0189-_=%&/."))
    mutated = token[:i] + ch + token[i + 1 :]
    if mutated == token:
        return
    try:
        ident = verify(mutated)
    except TokenRejected:
        return

    # accepted only if it means the same request: base64's slack bits in the last character,
    # or a percent-escape whose hex digits changed case (%2F vs %2f)
    def meaning(url: str) -> tuple[str, str, str, list[tuple[str, str]]]:
        parts = urlsplit(url)
        return parts.scheme, parts.netloc, parts.path, parse_qsl(parts.query)

    assert meaning(url_of(mutated)) == meaning(url_of(token))
    assert ident.arn == USER.arn


def authenticator_for(cluster: str = "c1") -> tuple[Authenticator, ClusterState]:
    identities = IdentityMap()
    identities.map(USER.arn, "alice")
    authn = Authenticator(
        now=lambda: datetime.now(UTC),
        lookup=KEYS.get,
        local_sts_hosts=lambda: {STS},
        identities=identities,
    )
    return authn, ClusterState(cluster, "us-east-1", lambda: datetime.now(UTC))


def test_the_authenticator_maps_identities_and_counts_outcomes(good: str) -> None:
    authn, state = authenticator_for()
    assert authn.authenticate(state, good).username == "alice"
    with pytest.raises(ApiError) as info:
        authn.authenticate(state, mint(ROLE))  # valid token, unmapped role
    assert info.value.code == 401 and info.value.body["reason"] == "Unauthorized"
    assert state.stats.tokens_accepted == 1 and state.stats.tokens_rejected == 1
    assert state.stats.rejections == {"identity is not mapped in the cluster": 1}
    authn.revoke(state)
    with pytest.raises(ApiError):
        authn.authenticate(state, good)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.text(max_size=300).map(lambda t: "k8s-aws-v1." + t)))
def test_any_bearer_string_gets_a_401_status_and_nothing_else(text: str) -> None:
    authn, state = authenticator_for()
    with pytest.raises(ApiError) as info:
        authn.authenticate(state, text)
    assert info.value.code == 401 and info.value.body["kind"] == "Status"
