"""Python's cyclic garbage collector, run less often while a send is under way in this process."""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RARE_COLLECTIONS = 50_000  # new objects between two runs of the garbage collector during a send

_collections_lock = threading.Lock()
_sends_under_way = 0
_threshold_before: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def rare_collections() -> Iterator[None]:
    """Run Python's cyclic garbage collector less often while a send is under way in this process.

    A send makes some twenty short-lived objects per recipient and no reference cycles; at the default
    threshold (700 new objects) the collector ran every few dozen recipients, about a tenth of a
    sender's time. Reference counting still frees everything at once; the collector just looks for
    cycles less often. Sends running in threads of one process share the setting; the last one to
    finish restores it.
    """
    global _sends_under_way, _threshold_before
    with _collections_lock:
        if _sends_under_way == 0:
            _threshold_before = gc.get_threshold()
            gc.set_threshold(RARE_COLLECTIONS, *_threshold_before[1:])
        _sends_under_way += 1
    try:
        yield
    finally:
        with _collections_lock:
            _sends_under_way -= 1
            if _sends_under_way == 0:
                gc.set_threshold(*_threshold_before)
