"""A message broker's bookkeeping: per-subscriber queues, retention, acknowledgements and
redelivery.

The broker keeps one queue per subscriber (a :class:`~simcomm.components.updates.Mailbox`,
so a consumer can park a fetch on it). Messages wait there until a consumer takes them:

* **retention** — a message older than ``retention`` seconds when it would be taken is
  dropped instead (``on_expired(subscriber, message)``); None keeps messages forever;
* **acknowledgements** — with ``ack_timeout`` set, every message handed out is *unacked*
  until :meth:`Broker.ack` is called for it; if that does not happen within ``ack_timeout``
  the message goes back to the front of its queue (``on_redeliver(subscriber, message)``) and
  will be handed out again. Without ``ack_timeout`` a message is forgotten once handed out
  (at-most-once);
* **redeliveries** — a message that went back to its queue is a *retry*: when :meth:`take`
  hands it out again, ``on_resend(subscriber, message)`` is called (a redelivery actually
  sent); a retry dropped by retention instead is never sent again, and only ``on_expired``
  is called for it.

The CPU a broker spends per message and per copy is spent by the pattern on the world's
server workers; the broker itself knows nothing of patterns.
"""

from __future__ import annotations

from collections.abc import Callable

from .updates import Mailbox, Update

__all__ = ["Broker"]


class Broker:
    def __init__(self, env, subscribers: int, *, retention: float | None,
                 ack_timeout: float | None,
                 on_expired: Callable[[int, Update], None],
                 on_redeliver: Callable[[int, Update], None],
                 on_resend: Callable[[int, Update], None] | None = None) -> None:
        """*on_redeliver* is called when an unacknowledged message goes back to its queue (at
        the ack timeout), *on_resend* when such a message is handed out again."""
        self.env = env
        self.queues = [Mailbox(env) for _ in range(subscribers)]
        acks = ack_timeout is not None
        self.unacked: list[dict[int, tuple[Update, int]]] = (
            [{} for _ in range(subscribers)] if acks else [{}] * subscribers)
        """Per subscriber: delivery tag → (message, hand-out generation). Without
        acknowledgements nothing is ever unacked: every subscriber shares one empty dict
        (memory per subscriber); it is only written to with acks."""
        self.retries: list[set[int]] = (
            [set() for _ in range(subscribers)] if acks else [set()] * subscribers)
        """Per subscriber: queued messages that were handed out before (retries; only with
        acknowledgements — without, one shared empty set, never added to)."""
        self.retention = retention
        self.ack_timeout = ack_timeout
        self._on_expired = on_expired
        self._on_redeliver = on_redeliver
        self._on_resend = on_resend
        self._gen = 0
        self._holds = retention is not None or acks
        """Whether a queued message can be held back or dropped (retention, acks): if not, a
        queue is handed out whole, as it is."""

    def publish(self, subscriber: int, message: Update) -> None:
        """Queue a copy of *message* for *subscriber*."""
        self.queues[subscriber].put(message)

    def passes(self, subscriber: int) -> bool:
        """Whether a copy for *subscriber* that a consumer takes as soon as it is queued
        would pass straight through: nothing queued before it, no retention, no
        acknowledgements (so :meth:`publish` then :meth:`take` would hand out just it, and
        keep nothing). The caller then sends it without queueing it."""
        return not self._holds and not self.queues[subscriber].items

    def take(self, subscriber: int, limit: int | None = None) -> list[Update]:
        """Hand out up to *limit* queued messages (oldest first), dropping expired ones. With
        acknowledgements on, each becomes unacked and its redelivery timer starts now; each
        retry handed out is reported to ``on_resend``."""
        q = self.queues[subscriber]
        if limit is None and not self._holds:
            return q.take()  # (all of it, as the loop below would hand it out)
        retries = self.retries[subscriber]
        out: list[Update] = []
        now = self.env.now
        keep: list[Update] = []
        for m in q.take():
            if limit is not None and len(out) >= limit:
                keep.append(m)
            elif self.retention is not None and now - m.t_created > self.retention:
                retries.discard(m.uid)
                self._on_expired(subscriber, m)
            else:
                out.append(m)
                if retries and m.uid in retries:
                    retries.discard(m.uid)
                    if self._on_resend is not None:
                        self._on_resend(subscriber, m)
        for m in keep:
            q.put(m)
        if self.ack_timeout is not None:
            for m in out:
                self._gen += 1
                self.unacked[subscriber][m.uid] = (m, self._gen)
                timer = self.env.timeout(self.ack_timeout)
                timer.callbacks.append(
                    lambda _e, s=subscriber, uid=m.uid, g=self._gen: self._expire(s, uid, g))
        return out

    def ack(self, subscriber: int, uid: int) -> bool:
        """The subscriber acknowledged *uid*; True if it was still unacked."""
        return self.unacked[subscriber].pop(uid, None) is not None

    def in_flight(self, subscriber: int) -> int:
        return len(self.unacked[subscriber])

    def _expire(self, subscriber: int, uid: int, gen: int) -> None:
        entry = self.unacked[subscriber].get(uid)
        if entry is None or entry[1] != gen:
            return  # acknowledged (or handed out again) in time
        del self.unacked[subscriber][uid]
        self.retries[subscriber].add(uid)
        q = self.queues[subscriber]
        rest = q.take()
        q.put(entry[0])
        for m in rest:
            q.put(m)
        self._on_redeliver(subscriber, entry[0])
