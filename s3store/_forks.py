"""Fork safety: objects that hold locks or queues reset themselves in a forked child.

A child process has only the thread that called `fork()`. A lock another thread held,
or a group-commit queue whose leader was another thread, would stay held or queued
forever in the child; so each such object registers here and starts afresh there.
(One process-wide registry, as `random` and `logging` keep for the same reason.)
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["ForkAware", "reset_after_fork"]


class ForkAware(Protocol):
    """Something that can start afresh in a forked child."""

    def _after_fork_in_child(self) -> None: ...


_registered: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def reset_after_fork(obj: ForkAware) -> None:
    """Have `obj._after_fork_in_child()` called in every child forked from now on."""
    _registered.add(obj)


def _reset_all() -> None:
    for obj in list(_registered):
        obj._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_reset_all)
