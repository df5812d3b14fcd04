"""One client's exchange, message by message: as text (``simcomm trace``) and as a sequence
diagram (:func:`simcomm.plots.sequence`).

:func:`exchange` picks, from a run's ``messages`` frame, the messages on the connections of one
client and the messages of the same flows elsewhere — a proxy's backend leg, a publisher's
publish of an update the client got — sent in a time window, and says for each which lane it
leaves and which it reaches: ``client``, ``proxy``, ``publisher`` and ``server`` (the server, or
the broker for pub/sub). :func:`lines` prints them one per line, the way ``curl -v`` prints an
exchange: the time it was sent, an arrow, what it is (kind and tag), its bytes (headers
apart), its flow and connection, and when it arrived (or that it was lost).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["LANES", "exchange", "lines"]

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
