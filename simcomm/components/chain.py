"""Chains of timeouts: per-client behaviour without a process per client.

A SimPy process per client (a heartbeat, an on/off presence, a topic's update source) costs
its generator frame, the Process and its pending event: about 1 kB a client, which is what
limits a world of a million clients. Where the behaviour is a fixed loop of "wait, then act",
a *chain* does the same with one small object: a timeout whose callback acts and schedules
the next timeout. :func:`start_all` starts many chains from one process, at the turn the first
of their processes would have started, so that every timeout is scheduled at the same time,
in the same order, with the same draws as the processes did (``tests/test_pinned.py`` holds
the bundled examples to it).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Protocol

__all__ = ["Chain", "start_all"]


class Chain(Protocol):
    def start(self) -> None:
        """Schedule the chain's first timeout (its process's first step)."""


def start_all(env, chains: Iterable[Chain]) -> None:
    """Start every chain of *chains*, in order, as a process started now would: at its
    Initialize event (time now, urgent)."""
    env.process(_start(list(chains)))


def _start(chains: list[Chain]) -> Generator:
    for chain in chains:
        chain.start()
    return
    yield
