"""A thread-safe least-recently-used map, bounded by a count of items or by the bytes they hold."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRUCache(Generic[V]):
    """`get` / `put` by key; beyond `max_items` items or `max_bytes` bytes (as `size_of` counts
    them), the least recently used go. An item larger than `max_bytes` on its own is not kept."""

    def __init__(self, max_items: int | None = None, max_bytes: int | None = None,
                 size_of: Callable[[V], int] = lambda _: 0):
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: V) -> None:
        size = self._size_of(value)
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            if self.max_bytes is not None and size > self.max_bytes:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while self._items and ((self.max_items is not None and len(self._items) > self.max_items)
                                   or (self.max_bytes is not None and self._bytes > self.max_bytes)):
                self._bytes -= self._items.popitem(last=False)[1][1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
