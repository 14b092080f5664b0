"""Suite-wide setup: run every logger at DEBUG through the secret-leak detector."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from leakcheck import detector

from kom_async.auth.token import Token


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(detector)
    root.setLevel(logging.DEBUG)
    # learn every token the suite creates, whatever its source
    original = Token.__post_init__

    def learning_post_init(self: Token) -> None:
        original(self)
        detector.learn(self.value)

    Token.__post_init__ = learning_post_init  # type: ignore[method-assign]
    try:
        from kom_async.lab import lab as lab_module
    except ImportError:
        return
    env_for = lab_module.EKSLab.env_for

    def learning_env_for(self: Any, cred: Any) -> dict[str, str]:
        env: dict[str, str] = env_for(self, cred)
        detector.learn(env.get("AWS_SECRET_ACCESS_KEY"))
        detector.learn(env.get("AWS_SESSION_TOKEN"))
        return env

    lab_module.EKSLab.env_for = learning_env_for  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if detector.leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"secret-leak check: {detector.records} log records scanned at DEBUG, "
        f"{len(detector.secrets)} secrets known, {len(detector.leaks)} leaks"
    )
    for leak in detector.leaks[:20]:
        terminalreporter.write_line(f"  LEAK {leak}")
