"""One client's exchange, message by message: as text (``simcomm trace``) and as a sequence
diagram (:func:`simcomm.plots.sequence`).

:func:`exchange` picks, from a run's ``messages`` frame, the messages on the connections of one
client and the messages of the same flows elsewhere — a proxy's backend leg, a publisher's
publish of an update the client got — sent in a time window, and says for each which lane it
leaves and which it reaches: ``client``, ``proxy``, ``publisher`` and ``server`` (the server, or
the broker for pub/sub). :func:`lines` prints them one per line, the way ``curl -v`` prints an
exchange: the time it was sent, an arrow, what it is (kind and tag), its bytes (headers
apart), its flow and connection, and when it arrived (or that it was lost). :func:`trace`
runs a scenario and returns one client's exchange (``simcomm.trace``, what ``simcomm trace``
prints).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["LANES", "exchange", "lines", "trace"]

LANES = ("publisher", "client", "proxy", "server")
"""The lanes of a sequence diagram, left to right."""
PROXY = -2
"""The ``client`` of a proxy's backend connection in the messages frame."""


def exchange(messages: pd.DataFrame, client: int,
             window: tuple[float, float] = (0.0, math.inf)) -> pd.DataFrame:
    """The messages of *client*'s exchange sent in ``[window)``, oldest first, with ``src``
    and ``dst`` lanes (see the module docstring)."""
    m = messages
    mine = (m.client == client).to_numpy()
    flows = set(m.flow[mine & (m.flow >= 0).to_numpy()].tolist())
    # the same flows on connections that are no client's: a proxy's backend, a publisher
    # (other subscribers' copies of an update are their own exchanges)
    related = m.flow.isin(flows).to_numpy() & (m.client < 0).to_numpy()
    lo, hi = window
    sent = m.t_send.to_numpy()
    pick = (mine | related) & (sent >= lo) & (sent < hi)
    out = m[pick].copy()
    proxied = bool((m.client == PROXY).any())
    up = (out.direction == "up").to_numpy()
    owner = out.client.to_numpy()
    near = np.where(owner == client, "client", np.where(owner == PROXY, "proxy", "publisher"))
    far = np.where((owner == client) & proxied, "proxy", "server")
    out["src"] = np.where(up, near, far)
    out["dst"] = np.where(up, far, near)
    return out.sort_values(["t_send", "t_arrive"], kind="stable").reset_index(drop=True)


def _bytes(n: float) -> str:
    return f"{n:,.0f} B"


def lines(ex: pd.DataFrame) -> list[str]:
    """One line per message of an :func:`exchange`, as ``curl -v`` prints one."""
    out = []
    for r in ex.itertuples(index=False):
        arrow = f"{r.src} > {r.dst}"
        arrive = ("lost" if math.isnan(r.t_arrive) else f"arrives {r.t_arrive:.6f} s "
                  f"(+{(r.t_arrive - r.t_send) * 1e3:.3f} ms)")
        out.append(f"{r.t_send:12.6f} s  {arrow:<20} {r.kind:<9} {r.tag:<9} "
                   f"{_bytes(r.bytes):>10} (headers {_bytes(r.header_bytes)})  flow {r.flow}  "
                   f"conn {r.connection}  {arrive}")
    return out


def trace(scenario, client: int = 0, window: tuple[float, float] = (0.0, 2.0), *,
          pattern: int | str = 0) -> pd.DataFrame:
    """Run *scenario* (a :class:`~simcomm.scenario.Scenario`, dict or file) cut short just
    after *window* (seconds), from time 0 and in full detail, and return the :func:`exchange`
    of *client* in it: one row per message with ``src`` and ``dst`` lanes, the frame's
    ``attrs["pattern"]`` naming the entry (*pattern*: its index or label). Draw it with
    :func:`simcomm.plots.sequence`, print it with :func:`lines`. A bad argument raises
    ValueError naming it."""
    from .runner import _scenario, run

    sc = _scenario(scenario)
    if isinstance(client, bool) or not isinstance(client, int | np.integer) \
            or not 0 <= client < sc.clients.count:
        raise ValueError(f"client: expected a client number from 0 to "
                         f"{sc.clients.count - 1}, got {client!r}")
    try:
        lo, hi = (float(v) for v in window)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not 0 <= lo < hi:
        raise ValueError(f"window: expected (from, to) in seconds with 0 <= from < to, got "
                         f"{window!r}")
    labels = [v.label for v in sc.variants]
    if isinstance(pattern, str):
        if pattern not in labels:
            raise ValueError(f"pattern: no entry labelled {pattern!r} (entries: "
                             f"{', '.join(labels)})")
        pattern = labels.index(pattern)
    # the run up to just after the window (what was sent in it has arrived), no warm-up
    cut = sc.model_copy(update={"duration": min(sc.duration, hi + 1.0), "warmup": 0.0,
                                "warmup_rule": "fixed", "detail": "full"})
    result = run(cut, pattern)
    ex = exchange(result.frames["messages"], int(client), (lo, hi))
    ex.attrs["pattern"] = result.pattern
    return ex
