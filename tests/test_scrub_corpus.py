"""The scrubber against a corpus of real error messages (tests/data/scrub_corpus.yaml): every
secret in them is redacted and every other word survives, so errors still read like sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kom_async.scrub import REDACTED, scrub

CORPUS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "scrub_corpus.yaml").read_text()
)


def test_the_corpus_is_large_and_has_secrets_and_prose() -> None:
    assert len(CORPUS) >= 50
    with_secrets = [e for e in CORPUS if "expected" in e]
    assert len(with_secrets) >= 12 and len(CORPUS) - len(with_secrets) >= 40


@pytest.mark.parametrize("entry", CORPUS, ids=[e["source"] for e in CORPUS])
def test_a_real_error_message_keeps_its_words_and_loses_its_secrets(entry: dict[str, Any]) -> None:
    expected = entry.get("expected", entry["text"])
    assert scrub(entry["text"]) == expected
    assert scrub(expected) == expected  # scrubbing twice changes nothing


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password=hunter2", "hunter2"),
        ('"token": "abc"', "abc"),
        ("'secret': 'xyz'", "xyz"),
        ("AWS_SECRET_ACCESS_KEY=abc", "abc"),
        ("client_secret: s3cr3t", "s3cr3t"),
        ("api-key: 9f8e7d", "9f8e7d"),
        ('"password": plain', "plain"),  # a quoted key: data
        ("token: wJalrXUt", "wJalrXUt"),
    ],
)
def test_an_assignment_whose_value_looks_like_a_value_is_redacted(text: str, secret: str) -> None:
    out = scrub(text)
    assert secret not in out and REDACTED in out


def test_values_the_caller_knows_are_in_use_are_redacted_whatever_their_shape() -> None:
    assert scrub("login as admin with plainword failed", secrets=["plainword"]) == (
        f"login as admin with {REDACTED} failed"
    )
    assert scrub("a b", secrets=["a"]) == "a b"  # too short to search for without eating text


SHAPES = [
    "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9uPUdldENhbGxlcklkZW50aXR5",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl",
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAQX7EXAMPLEKEY4NZ",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "xoxb-2633492365-8Kq1YpQx9ZbW",
    "glpat-Xq8sZ2yW4vR6tU1pO3nM",
    "sk-proj-4fT9xQ2mZ8vB1nR7kL3pW6",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
]


@pytest.mark.parametrize("secret", SHAPES)
def test_every_secret_shape_is_redacted_on_its_own_in_a_sentence(secret: str) -> None:
    """No key word before it: the shape alone gives the secret away."""
    out = scrub(f"the plugin said {secret} and stopped")
    assert secret not in out
    assert out == f"the plugin said {REDACTED} and stopped"
