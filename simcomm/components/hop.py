"""The base of a hop: a component a message passes through between a client's connection and
the server (a proxy, a load balancer, a sidecar), plugged into a path with
:meth:`~simcomm.components.path.Path.add_hop`.

It lives apart from :mod:`simcomm.components.path` because that module may run compiled
(:mod:`simcomm._native`), and a compiled class cannot be subclassed in Python: hops are.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..metrics.definitions import Kind, Tag

__all__ = ["Hop"]

REQUEST, USEFUL = int(Kind.REQUEST), int(Tag.USEFUL)


class Hop:
    """A component a message passes through between a client's connection and the server.

    Subclasses implement :meth:`carry`; it runs for every message in both directions and adds
    its time to ``trip.parts``. :meth:`attach` is called once, when the hop is plugged into a
    path (a hop that opens connections of its own uses the path's :meth:`Path.open`)."""

    def attach(self, path) -> None:
        """The hop is plugged into *path* (a :class:`~simcomm.components.path.Path`)."""

    def carry(self, trip, direction: int, size: float, header: float = 0.0,
              kind: int = REQUEST, tag: int = USEFUL) -> Generator[Any, Any, None]:
        """``yield from``: the message (*size* bytes, *header* of them headers, of *kind* and
        *tag*) going *direction* (UP or DOWN), its time added to *trip*'s parts (a
        :class:`~simcomm.components.path.Trip`)."""
        raise NotImplementedError
        yield  # pragma: no cover
