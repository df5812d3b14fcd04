"""Steps several patterns share: a server worker does some work, then a message goes down a
client's link; and the latency parts such a trip adds.

These are the only places where a pattern strings the server and the link together outside
its own hot path (``request_response`` inlines the same steps for speed).
"""

from __future__ import annotations

from ..metrics.definitions import PART_NAMES, Part

__all__ = ["trip_parts", "work_and_send"]

NPARTS = len(PART_NAMES)
SERVER_QUEUE, SERVICE, PARSE = int(Part.SERVER_QUEUE), int(Part.SERVICE), int(Part.PARSE)
TRANSMISSION, PROPAGATION = int(Part.TRANSMISSION), int(Part.PROPAGATION)
RETRANSMISSION = int(Part.RETRANSMISSION)


def work_and_send(world, client, payload: int, kind: int, tag: int, flow: int, header: int, *,
                  cpu_before: float = 0.0, cpu_after: float = 0.0, serve: bool = False,
                  req=None):
    """``yield from``: a server worker (*req* if already granted, else one taken without the
    queue bound) spends *cpu_before* + a service time (when *serve*) + *cpu_after*, then a
    message of ``header + payload`` bytes goes down *client*'s link. Returns ``(t_work,
    service, busy, trip)`` once it has arrived, *trip* being the link's ``(transmission,
    propagation, retransmission, row)``."""
    env, server = world.env, world.server
    if req is None:
        req = server.admit(bounded=False)
    yield req
    t_work = env.now
    service, busy = server.work(cpu_before, cpu_after, serve=serve)
    yield env.timeout(busy)
    server.release(req)
    r = client.link.down.send(header + payload, header, kind, tag, flow)
    if r.__class__ is not tuple:
        r = yield r
    return t_work, service, busy, r


def trip_parts(t_from: float, t_work: float, service: float, busy: float, trip,
               client_parse: float = 0.0) -> list[float]:
    """The decomposition of a trip that began at *t_from* on the server: waiting for a worker,
    its service and encoding time, the link, the client's parsing."""
    parts = [0.0] * NPARTS
    parts[SERVER_QUEUE] = t_work - t_from
    parts[SERVICE] = service
    parts[PARSE] = busy - service + client_parse
    parts[TRANSMISSION] = trip[0]
    parts[PROPAGATION] = trip[1]
    parts[RETRANSMISSION] = trip[2]
    return parts
