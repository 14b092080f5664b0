"""Foreign text made safe to show: terminal escape sequences and control characters removed.

Text that a plugin, a kubeconfig or a server wrote (an ``installHint``, a plugin's stderr) can
clear a terminal, recolour it, move the cursor or rewrite a line; ``printable()`` is the one
place such text loses every control character except newline and tab before it reaches a user.
"""

from __future__ import annotations

import re

# whole sequences first, so that no "[2J" is left behind; each body stops at the next escape
# or C1 character, so every position is scanned once (linear, whatever the text)
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase display/line
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x90-\x9f]*(?:\x07|\x1b\\|\x9c)"  # OSC, DCS...
    r"|\x1b[ -/]*[0-~]"  # every other escape (charset switches, keypad modes, reset)
)
# C0 (but newline and tab), DEL, C1, and the bidirectional overrides that reorder what is shown
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without escape sequences or control characters (newline and tab are kept)."""
    return _CONTROL.sub("", _SEQUENCE.sub("", text))
