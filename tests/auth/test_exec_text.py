"""What a plugin writes reaches a user without terminal control (issue 21, item 8): the
kubeconfig's ``installHint`` and the plugin's stderr lose escape sequences and control
characters (``kom_async.printable``) in the error message and in ``ExecPluginError.stderr``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from kom_async import Clusters
from kom_async.auth.exec import ExecTokenSource
from kom_async.config.kubeconfig import ExecConfig
from kom_async.errors import EKSAuthError, ExecPluginError
from kom_async.lab import EKSLab
from kom_async.printable import printable

#: clear the screen, turn red, set the window title, overwrite the line, ring the bell, C1 CSI,
#: and a right-to-left override that would show the text reversed
HOSTILE = "\x1b[2J\x1b[31mfatal\x1b[0m: \x1b]0;pwned\x07no \rprofile\x07 \x9b1;31mset\u202e txen\x1b(B\x7f"
SHOWN = "fatal: no profile set txen"


def assert_no_control(text: str) -> None:
    controls = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert controls == [], text
    assert "\u202e" not in text and "[2J" not in text and "[31m" not in text and "pwned" not in text


def kubeconfig(lab: EKSLab, user: dict[str, Any]) -> dict[str, Any]:
    cluster = lab.cluster("lab")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {"server": cluster.server, "certificate-authority-data": cluster.ca_data},
            }
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


async def test_an_install_hint_with_escape_sequences_reaches_the_registration_error_without_them(
    eks_lab: EKSLab,
) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kom-async-no-such-plugin-xyz",
            "installHint": "\x1b[2J\x1b[31mInstall\x1b[0m it:\n\tpip install widget\r\x1b]0;pwned\x07",
        }
    }
    async with Clusters() as clusters:
        with pytest.raises(ExecPluginError) as info:
            await clusters.register_by_string(kubeconfig(eks_lab, user), cluster_id="hint")
    message = str(info.value)
    assert_no_control(message)
    assert "not found on PATH" in message and "Install it:\n\tpip install widget" in message


async def test_escape_sequences_on_a_failing_plugins_stderr_reach_neither_the_message_nor_the_stderr_attribute(
    eks_lab: EKSLab, make_plugin: Callable[[str], str]
) -> None:
    plugin = make_plugin(f"import sys\nsys.stderr.write({HOSTILE!r} + '\\n')\nsys.exit(2)\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": plugin}}
    async with Clusters() as clusters:
        with pytest.raises(ExecPluginError) as info:
            await clusters.register_by_string(kubeconfig(eks_lab, user), cluster_id="stderr")
    assert info.value.exit_code == 2 and info.value.stderr is not None
    for text in (str(info.value), info.value.stderr):
        assert_no_control(text)
    assert SHOWN in str(info.value) and SHOWN in info.value.stderr


async def test_an_eks_plugins_stderr_loses_its_escape_sequences_too(
    make_plugin: Callable[[str], str],
) -> None:
    plugin = make_plugin(f"import sys\nsys.stderr.write({HOSTILE!r})\nsys.exit(1)\n")
    with pytest.raises(EKSAuthError) as info:
        await ExecTokenSource(ExecConfig(command=plugin), eks=True, cluster_id="e").fetch()
    assert_no_control(str(info.value))
    assert SHOWN in str(info.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, with\nlines\tand tabs", "plain text, with\nlines\tand tabs"),
        ("\x1b[1;31mred\x1b[m and \x1b[?25lhidden cursor", "red and hidden cursor"),
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink
        ("\x1bPq#0;2;0;0;0\x1b\\sixel", "sixel"),  # DCS
        ("a\x00b\x08c\x0bd\x0ce\x1bf\x7fg\x85h\x9ci", "abcdeghi"),  # lone ESC eats the next letter
        ("\x1b", ""),
        ("\x1b[", ""),  # an unfinished CSI
        ("\u202eabc\u2066d\u2069\u200f", "abcd"),
        ("Grüße, 日本語, emoji 🎉", "Grüße, 日本語, emoji 🎉"),
    ],
)
def test_printable_removes_escape_sequences_and_controls_and_keeps_the_rest(text: str, shown: str) -> None:
    assert printable(text) == shown


@pytest.mark.parametrize("unit", ["\x1b[0", "\x1b]0;", "\x90", "\x9b", "\x1b ", "\x1b]\x90"])
def test_printable_grows_linearly_with_the_text_it_is_given(unit: str) -> None:
    """Unterminated sequences repeated: 8x more text must cost ~8x, not ~64x (measured in this run)."""

    small_text, large_text = unit * (262144 // len(unit)), unit * (2097152 // len(unit))
    small = large = float("inf")
    for _ in range(5):  # interleaved, best of five each: a burst of load elsewhere hits one round
        for text in (small_text, large_text):
            started = time.perf_counter()
            printable(text)
            elapsed = time.perf_counter() - started
            if text is small_text:
                small = min(small, elapsed)
            else:
                large = min(large, elapsed)
    assert large / small < 32, (small, large)
