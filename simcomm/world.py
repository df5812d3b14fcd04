"""The World: one SimPy environment with its random streams, components and recorder.

A :class:`World` is built from a :class:`~simcomm.scenario.Scenario`; a pattern strategy then
installs its processes on it (see :mod:`simcomm.patterns`). Components are built here and know
nothing about the patterns that use them.

Stream names (stable, so adding a component shifts nobody's numbers):

=============================  =================================================
``arrivals``, ``arrivals.*``   open-loop arrival times and client choice
``workload.think.<i>``         think times of client *i* (closed loop)
``workload.request_size.<i>``  request payload sizes of client *i*
``workload.response_size.<i>`` response payload sizes of client *i*
``server.service``             service times
``link.up.latency`` …          per link and direction: latency, loss
``updates.<t>``, ``.size`` …   update times and sizes of topic *t* (``.on``/``.off``: bursts)
``clients.session.<i>`` …      online session and offline gap lengths of client *i*
=============================  =================================================
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import simpy

from .components.balancer import Balancer
from .components.chain import Timers, start_all
from .components.client import Client, Presence
from .components.connection import Connection
from .components.feed import UpdateFeed
from .components.link import Link
from .components.path import Path
from .components.proxy import Proxy
from .components.resilience import Resilience
from .components.server import Server
from .components.sidecar import Sidecar
from .components.state import Sessions
from .components.task import run_until
from .dists import zero
from .metrics.recorder import FullRecorder, Recorder, SketchRecorder
from .rng import Buffered, Streams
from .scenario import BalancerCfg, ConnectionCfg, Headers, Scenario, StateCfg

__all__ = ["World"]


class World:
    def __init__(self, scenario: Scenario, *, encoding: str | None = None,
                 headers: Headers | None = None, connection: ConnectionCfg | None = None,
                 proxy=..., balancer=..., resilience=..., sidecar=..., state=...,
                 progress: Callable[[float], None] | None = None) -> None:
        """*progress(fraction)*, if given, is called as the clients are built (fractions in
        [0, 1], about a hundred calls): set-up of many clients takes a while. *proxy*,
        *balancer*, *resilience* and *sidecar* are a pattern entry's own (None: none);
        left out, the scenario's."""
        sc = scenario
        self.scenario = sc
        self.env = env = simpy.Environment()
        self.streams = streams = Streams(sc.seed)
        if sc.detail == "full":
            rec = FullRecorder(env, sc.warmup, sc.duration)
        elif sc.latency_sketch is not None:
            rec = SketchRecorder(env, sc.warmup, sc.duration, sc.latency_sketch)
        else:
            rec = Recorder(env, sc.warmup, sc.duration)
        self.recorder = rec
        self.timers = Timers(env)
        """Per-client chains' next steps (presence, heartbeats, update sources) behind one
        pending event (see :mod:`simcomm.components.chain`)."""
        self.encoding = sc.encoding_table[encoding or sc.workload.encoding]
        self.headers = h = headers or sc.headers
        """Header and framing bytes of this run's messages (sizes as given, not rounded)."""
        self.request_header = h.request
        self.response_header = h.response
        self.flow_ids = itertools.count()
        """Source of flow ids: one per exchange/upload/update, shared by its messages."""
        n_inst = sc.server.instances
        self.servers = [Server(
            env,
            workers=sc.server.workers,
            # instance 0 keeps the single server's stream name: one instance draws as before
            service=sc.server.service_time.sampler(
                streams.generator("server.service" if i == 0 else f"server.service.{i}")),
            queue_limit=sc.server.queue_limit,
            recorder=rec,
            index=i,
        ) for i in range(n_inst)]
        """The server's instances (one unless ``server.instances``)."""
        self.server = self.servers[0]
        rec.instances(n_inst)
        self._faults(sc)
        st = (sc.state if state is ... else state) or StateCfg()
        self.sessions = Sessions(
            env, rec, mode=st.mode, servers=self.servers, lifetime=st.lifetime,
            revoke_after=(None if st.revoke_after is None else
                          st.revoke_after.sampler(streams.generator("state.revoke"))),
            token_size=st.token_size, verify=st.verify, store_latency=st.store_latency,
            store_service=st.store_service.sampler(streams.generator("state.store")),
            store_workers=st.store_workers, store_failure=st.store_failure,
            store_draw=Buffered(streams.generator("state.store.failure"),
                                lambda g, n: g.random(n)) if st.store_failure else None)
        """Where sessions live (the ``workflow`` pattern's; see
        :mod:`simcomm.components.state`)."""
        cc = connection or sc.connection
        self.path = Path(env, self.server, rec, streams, setup=cc.setup(), warm=cc.warm,
                         reuse=cc.reuse, idle_timeout=cc.idle_timeout, protocol=cc.protocol,
                         pool=cc.pool, max_streams=cc.max_streams, pipelining=cc.pipelining,
                         transport=cc.transport())
        """Carries every message between the clients and the server (see
        :mod:`simcomm.components.path`)."""
        sd = sc.sidecar if sidecar is ... else sidecar  # an entry's own, or none (false)
        if sd is not None:  # nearest the client
            self.path.add_hop(Sidecar(
                env, side="client", cpu=sd.cpu.sampler(streams.generator("sidecar.client.cpu")),
                latency=sd.latency.sampler(streams.generator("sidecar.client.latency"))))
        px = sc.proxy if proxy is ... else proxy  # an entry's own, or none (false)
        if px is not None:
            self.path.add_hop(Proxy(
                env, link=Link("proxy", bandwidth=px.bandwidth, latency_dist=px.latency,
                               loss=0.0, rto=sc.network.rto, streams=streams),
                recorder=rec, workers=px.workers,
                cpu=px.cpu.sampler(streams.generator("proxy.cpu")), pool=px.pool,
                reuse=px.reuse, setup=px.setup(), warm=px.warm))
        bc = sc.balancer if balancer is ... else balancer  # an entry's own
        if bc is None and n_inst > 1:
            bc = BalancerCfg()
        if bc is not None:
            self.path.add_hop(Balancer(
                env, instances=self.servers, policy=bc.policy,
                cpu=bc.cpu.sampler(streams.generator("balancer.cpu")), workers=bc.workers,
                latency=bc.latency.sampler(streams.generator("balancer.latency")),
                streams=streams))
        self._partitions = [part.windows(sc.duration, _gaps(streams, f"faults.partitions.{k}"))
                            for k, part in enumerate(sc.faults.partitions)]
        """Per partition of the scenario: its windows ``[start, stop)``."""
        if bc is not None:
            for part, windows in zip(sc.faults.partitions, self._partitions, strict=True):
                for i in part.instances or ():
                    for a, b in windows:
                        self.path.router.cut(i, a, b, part.direction, sc.network.rto)
        if sd is not None:  # nearest the server
            self.path.add_hop(Sidecar(
                env, side="server", cpu=sd.cpu.sampler(streams.generator("sidecar.server.cpu")),
                latency=sd.latency.sampler(streams.generator("sidecar.server.latency")),
                workers=sd.workers))
        rs = sc.resilience if resilience is ... else resilience
        if rs is not None:
            self.path.guard(Resilience(
                env, rec, streams, timeout=rs.timeout, deadline=rs.deadline,
                retries=rs.retries, backoff=rs.backoff, backoff_max=rs.backoff_max,
                jitter=rs.jitter, cache=rs.cache,
                breaker=None if rs.breaker is None else (rs.breaker.failures,
                                                         rs.breaker.open_for)))
        n = sc.clients.count
        link = self.new_link
        if sc.network.topology == "shared":
            shared = link("link")
            links = [shared] * n
        else:
            links = [link(f"link.{i}") for i in _counting(n, progress, 0.0, 0.5)]
        lo = 0.0 if sc.network.topology == "shared" else 0.5
        self.clients = [Client(env, i, self.path.connect(links[i], None, i), 1)
                        for i in _counting(n, progress, lo, 1.0)]
        for part, windows in zip(sc.faults.partitions, self._partitions, strict=True):
            if part.instances is not None:
                continue  # between the balancer and instances: cut above
            cut = {links[i] for i in (range(n) if part.clients is None else part.clients)}
            for lk in cut:
                for pipe, way in ((lk.up, "up"), (lk.down, "down")):
                    if part.direction in ("both", way):
                        for a, b in windows:
                            pipe.cut(a, b)
        cc = sc.clients
        if cc.session is not None:
            start_all(env, [Presence(
                self.timers, c,
                cc.session.sampler(streams.stream(f"clients.session.{c.index}")),
                cc.gap.sampler(streams.stream(f"clients.gap.{c.index}")))
                for c in self.clients])
        w = sc.workload
        self._sizes: dict[int, tuple] = {}
        up = w.updates
        self.subscribers: list[list[int]] = up.subscribers(n) if up is not None else []
        """Client indices subscribed to each topic."""
        self.feed = None if up is None else UpdateFeed(
            env, updates=up, subscribers=self.subscribers, clients=self.clients,
            capacity=cc.capacity, buffer=cc.buffer, streams=streams, recorder=rec,
            flow_ids=self.flow_ids, timers=self.timers)
        """Creates the scenario's updates and hands them to client inboxes (see
        :mod:`simcomm.components.feed`); None without ``workload.updates``."""
        self.update_header = h.update
        self.ack_header = h.ack

    def _faults(self, sc: Scenario) -> None:
        """Apply ``faults:`` to the instances: slow episodes, failing requests, restarts (each
        instance draws from streams of its own)."""
        f, streams, end = sc.faults, self.streams, sc.duration
        for i, server in enumerate(self.servers):
            server.slow = []
            for k, ep in enumerate(f.slow):
                if ep.instance == i:
                    server.slow += [(a, b, ep.factor) for a, b in ep.windows(
                        end, _gaps(streams, f"faults.slow.{k}"))]
            if f.failure:
                server.fails(f.failure, Buffered(streams.generator(f"faults.failure.{i}"),
                                                 lambda g, n: g.random(n)))
        r = f.restarts
        if r is None:
            return
        for i in (range(len(self.servers)) if r.instances is None else sorted(set(r.instances))):
            server = self.servers[i]
            down = r.downtime.sampler(streams.generator(f"faults.downtime.{i}"))
            for t in sorted(r.at):
                server.restart_at(t, down(), r.crash)
            if r.rate is not None:
                gap = streams.generator(f"faults.restarts.{i}")
                t = float(gap.exponential(1.0 / r.rate))
                while t < end:
                    server.restart_at(t, down(), r.crash)
                    t += float(gap.exponential(1.0 / r.rate))

    def sizes(self, ci: int) -> tuple[Callable[[], float], Callable[[], float]]:
        """Samplers of client *ci*'s request and response payload sizes, from streams of its
        own (``workload.request_size.<i>``, ``workload.response_size.<i>``, made on first
        use), so that adding a client shifts no other client's sizes."""
        got = self._sizes.get(ci)
        if got is None:
            w, g = self.scenario.workload, self.streams.stream
            got = self._sizes[ci] = tuple(
                dist.sampler(g(f"workload.{name}.{ci}")) if dist else zero
                for name, dist in (("request_size", w.request_size),
                                   ("response_size", w.response_size)))
        return got

    def new_link(self, name: str) -> Link:
        """A link with the scenario's network parameters and streams named after *name*."""
        net = self.scenario.network
        b = net.bursts
        return Link(name, bandwidth=net.bandwidth, latency_dist=net.latency, loss=net.loss,
                    rto=net.rto, streams=self.streams,
                    bursts=None if b is None else (b.enter, b.leave, b.loss))

    def new_connection(self, name: str) -> Connection:
        """A connection of the path over a new link of its own (e.g. a publisher's)."""
        return self.path.connect(self.new_link(name), f"conn.{name}")

    def run(self, progress=None, steps: int = 100) -> None:
        """Run until the scenario's duration; *progress(fraction)* is called as time passes."""
        end = self.scenario.duration
        if progress is None:
            run_until(self.env, end)  # (env.run(until=end), its loop compiled)
        else:
            for k in range(1, steps + 1):
                run_until(self.env, end * k / steps)
                progress(k / steps)
        self.recorder.close()


def _gaps(streams, name: str) -> Callable[[float], float]:
    """Exponential gaps (given their mean) from the stream *name*."""
    g = streams.generator(name)
    return lambda mean: float(g.exponential(mean))


def _counting(n: int, progress: Callable[[float], None] | None, lo: float, hi: float):
    """``range(n)``, calling *progress* with lo … hi about a hundred times on the way."""
    if progress is None:
        return range(n)
    return _reporting(n, progress, lo, hi)


def _reporting(n: int, progress: Callable[[float], None], lo: float, hi: float):
    step = max(1, n // 100)
    for i in range(n):
        if i % step == 0:
            progress(lo + (hi - lo) * i / n)
        yield i
    progress(hi)

