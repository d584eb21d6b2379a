"""settle_heap(): the startup heap is frozen and young collections are spaced out."""

from __future__ import annotations

import gc

from herald.daemon import GC_THRESHOLDS, settle_heap


def test_settle_heap_freezes_startup_objects_and_sets_the_thresholds() -> None:
    before = gc.get_threshold()
    startup_object = {"kept": ["alive"]}  # a container that exists when herald has started
    try:
        settle_heap()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        # Frozen objects are out of the collector's view, so full passes do not walk them.
        assert not any(o is startup_object for o in gc.get_objects())
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert any(o is startup_object for o in gc.get_objects())
