"""Label and field selectors: accept what people write, send what the API server expects.

A selector is either the server's own string syntax (``"app=web,tier!=db"``) or a mapping
(``{"app": "web"}`` means ``app=web``). Several selectors on one query are ANDed, which is
what joining them with a comma means to the API server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Selector = str | Mapping[str, str]
"""What ``.labels()`` and ``.fields()`` accept."""


def to_selector(selector: Selector, *, what: str = "label") -> str:
    """Return ``selector`` in the API server's string syntax; refuse empty or malformed input.

    Mapping values must be strings: ``{"app": "web"}`` becomes ``"app=web"``.
    """
    if isinstance(selector, str):
        text = ",".join(part.strip() for part in selector.split(",") if part.strip())
        if not text:
            raise ValueError(f"empty {what} selector; pass e.g. 'app=web'")
        return text
    if isinstance(selector, Mapping):
        if not selector:
            raise ValueError(f"empty {what} selector mapping; pass e.g. {{'app': 'web'}}")
        parts = []
        for key, value in selector.items():
            if not isinstance(key, str) or not key or not isinstance(value, str):
                raise ValueError(
                    f"{what} selector mapping needs non-empty str keys and str values, got {key!r}: {value!r}"
                )
            if any(c in key for c in "=!,() ") or any(c in value for c in "=!,() "):
                raise ValueError(f"{what} selector entry {key!r}: {value!r} has reserved chars")
            parts.append(f"{key}={value}")
        return ",".join(parts)
    raise TypeError(f"{what} selector must be a str or a mapping, not {type(selector).__name__}")


def combine(selectors: Iterable[str]) -> str | None:
    """AND several selector strings together; ``None`` when there are none."""
    joined = ",".join(s for s in selectors if s)
    return joined or None
