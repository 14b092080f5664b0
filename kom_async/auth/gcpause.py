"""Bulk registration kept clear of full garbage collections, when the caller asks for it.

A full collection scans every object the process holds: with 10,000 clusters registered it
stops the event loop for seconds, and registering them triggers several. ``gc_quiet()`` is
opt-in because what it does is process-wide: while any such block runs, full collections are
held off (young ones still run, so short-lived garbage is freed); when the last block ends,
everything then alive is frozen (``gc.freeze``) so later full collections skip it. The price:
a frozen object that later becomes part of unreachable reference cycles (an unregistered
cluster's) is not freed until ``gc.unfreeze()``.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_NO_FULL_COLLECTION = 1 << 30  # gen-2 threshold meaning "never"
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def gc_quiet() -> Iterator[None]:
    """``with gc_quiet(): await register ...`` — no full collection inside; survivors frozen after."""
    global _depth, _saved
    if _depth == 0:
        _saved = gc.get_threshold()
        gc.set_threshold(_saved[0], _saved[1], _NO_FULL_COLLECTION)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _saved is not None:
            gc.collect(1)  # the young generations (small by their thresholds): no garbage frozen
            gc.freeze()
            gc.set_threshold(*_saved)
            _saved = None
