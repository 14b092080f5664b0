"""``gc_quiet()`` (issue 24): bulk registration kept clear of full garbage collections — none
runs inside the block, young ones still do, and what survives is frozen afterwards so later
full collections do not scan it; the collector's settings come back as they were."""

from __future__ import annotations

import gc
from typing import Any

from kom_async import gc_quiet


def test_no_full_collection_inside_and_survivors_frozen_after() -> None:
    generations: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    saved = gc.get_threshold()
    thresholds = (100, 1, 1)  # without gc_quiet, a full collection every few young ones
    gc.set_threshold(*thresholds)
    frozen_before = gc.get_freeze_count()
    gc.callbacks.append(seen)
    try:
        with gc_quiet():
            generations.clear()  # what ran inside the block only
            kept = [[i] for i in range(200_000)]  # enough allocations for many collections
            inside = list(generations)
            with gc_quiet():  # nested blocks: only the outermost one freezes
                pass
            assert gc.get_freeze_count() == frozen_before
        assert inside and 2 not in inside  # young collections ran, no full one
        assert gc.get_freeze_count() >= frozen_before + len(kept)
        assert gc.get_threshold() == thresholds
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*saved)
        gc.unfreeze()
