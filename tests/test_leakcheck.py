"""The leak detector itself must be able to fail: a planted token is found."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from childproc import run_pytest
from leakcheck import LeakDetector, detector

from kom_async.auth.token import Token


def test_the_leak_detector_flags_a_logged_token_and_a_known_secret() -> None:
    probe = LeakDetector()
    logger = logging.getLogger("kom_async.selftest")
    logger.addHandler(probe)
    logger.propagate = False  # keep the planted leak away from the suite-wide detector
    try:
        probe.learn("s3cr3t-access-key-value")
        logger.debug("request with %s", "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8")
        logger.debug("key is s3cr3t-access-key-value")
        logger.debug("token %r expires soon", Token("abc-not-logged-value"))
        logger.debug("nothing to see")
    finally:
        logger.removeHandler(probe)
        logger.propagate = True
    assert len(probe.leaks) == 2 and probe.records == 4


PLANT = "KOM_LEAKCHECK_PLANT"


@pytest.mark.skipif(os.environ.get(PLANT) != "1", reason="only run by the test below, in a child pytest")
def test_planted_leak() -> None:
    """Logs a learnt secret through the suite-wide detector (passes itself; the session must not)."""
    detector.learn("planted-secret-value-0123")
    logging.getLogger("kom_async.selftest").warning("oops: planted-secret-value-0123")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
async def test_a_leak_fails_the_whole_run_also_when_it_happens_in_an_xdist_worker(workers: list[str]) -> None:
    here = Path(__file__)
    code, text = await run_pytest(
        *workers,
        f"{here}::test_planted_leak",
        f"{here}::test_the_leak_detector_flags_a_logged_token_and_a_known_secret",
        cwd=here.parents[1],
        timeout=100,
        env={PLANT: "1"},
    )
    assert "2 passed" in text, text  # every test passed ...
    assert code == 1, text  # ... and the run failed on the leak
    assert "1 leaks" in text and "LEAK" in text, text
    if workers:
        assert "in 2 workers" in text, text
