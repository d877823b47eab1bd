"""A tiny name -> object registry with helpful errors (the verl pattern, in 30 lines).

>>> LOSSES = Registry("loss")
>>> @LOSSES.register("double")
... def double(x): return 2 * x
>>> LOSSES.get("double")(3)
6
>>> LOSSES.check("rl.loss", "triple")
Traceback (most recent call last):
k15core.errors.K15Error: rl.loss is 'triple', which is not one of: double
  fix: unknown loss; e.g. --set rl.loss=double
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from k15core.errors import K15Error

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj
        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            raise K15Error(f"unknown {self.kind} {name!r}", f"use one of: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def check(self, key: str, name: str) -> None:
        """A K15Error naming the config `key` and the registered names unless `name` is one of them (configs call
        this in `__post_init__`, so a bad choice stops a command before anything is loaded or recorded)."""
        if name not in self._items:
            names = self.names()
            raise K15Error(f"{key} is {name!r}, which is not one of: {', '.join(names)}",
                           f"unknown {self.kind}; e.g. --set {key}={names[0] if names else '...'}")
