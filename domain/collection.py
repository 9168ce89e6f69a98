"""Python's automatic garbage collector, paused for bulk work that keeps tens of thousands of objects alive.

A rebuild keeps every folded case, an import every case it has built, until the work is done; as they allocate,
the collector rescans all of them again and again (measured: a third of a rebuild's time, a fifth of an import's).
Nothing they make is cyclic garbage worth that, so only the young generations are collected, every `every` steps.
"""

from __future__ import annotations

import gc
from typing import Any


class PausedCollection:
    """`with PausedCollection() as collection:` ... `collection.step_done()`; the collector is back on after."""

    def __init__(self, every: int = 10) -> None:
        self.every = every

    def __enter__(self) -> "PausedCollection":
        self.paused, self.steps = gc.isenabled(), 0
        if self.paused:
            gc.disable()
        return self

    def step_done(self) -> None:
        self.steps += 1
        if self.paused and self.steps % self.every == 0:
            gc.collect(1)

    def __exit__(self, *exc: Any) -> None:
        if self.paused:
            gc.enable()
