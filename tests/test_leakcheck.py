"""The leak detector itself must be able to fail: a planted token is found."""

from __future__ import annotations

import logging

from leakcheck import LeakDetector

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
