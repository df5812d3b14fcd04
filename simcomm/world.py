"""The World: one SimPy environment with its random streams, components and recorder.

A :class:`World` is built from a :class:`~simcomm.scenario.Scenario`; a pattern strategy then
installs its processes on it (see :mod:`simcomm.patterns`). Components are built here and know
nothing about the patterns that use them.

Stream names (stable, so adding a component shifts nobody's numbers):

=============================  =================================================
``arrivals``, ``arrivals.*``   open-loop arrival times and client choice
``workload.think.<i>``         think times of client *i* (closed loop)
``workload.request_size``      request payload sizes
``workload.response_size``     response payload sizes
``server.service``             service times
``link.up.latency`` …          per link and direction: latency, loss
=============================  =================================================
"""

from __future__ import annotations

import itertools

import simpy

from .components.client import Client
from .components.link import Link
from .components.server import Server
from .metrics.recorder import FullRecorder, Recorder
from .rng import Streams
from .scenario import Scenario

__all__ = ["World"]


class World:
    def __init__(self, scenario: Scenario, *, encoding: str | None = None) -> None:
        sc = scenario
        self.scenario = sc
        self.env = env = simpy.Environment()
        self.streams = streams = Streams(sc.seed)
        rec_cls = FullRecorder if sc.detail == "full" else Recorder
        self.recorder = rec = rec_cls(env, sc.warmup, sc.duration)
        self.encoding = sc.encoding_table[encoding or sc.workload.encoding]
        self.request_header = round(sc.headers.request)
        self.response_header = round(sc.headers.response)
        self.server = Server(
            env,
            workers=sc.server.workers,
            service=sc.server.service_time.sampler(streams.generator("server.service")),
            queue_limit=sc.server.queue_limit,
            recorder=rec,
        )
        net = sc.network

        def link(name: str) -> Link:
            return Link(env, name, bandwidth=net.bandwidth, latency_dist=net.latency,
                        loss=net.loss, rto=net.rto, streams=streams, recorder=rec)

        n = sc.clients.count
        if net.topology == "shared":
            shared = link("link")
            links = [shared] * n
        else:
            links = [link(f"link.{i}") for i in range(n)]
        self.clients = [Client(env, i, links[i], 1, rec) for i in range(n)]
        w = sc.workload
        self.request_size = (w.request_size.sampler(streams.generator("workload.request_size"))
                             if w.request_size else (lambda: 0.0))
        self.response_size = (
            w.response_size.sampler(streams.generator("workload.response_size"))
            if w.response_size else (lambda: 0.0))
        self.flow_ids = itertools.count()
        """Source of flow ids: one per exchange/upload/update, shared by its messages."""

    def run(self, progress=None, steps: int = 100) -> None:
        """Run until the scenario's duration; *progress(fraction)* is called as time passes."""
        end = self.scenario.duration
        if progress is None:
            self.env.run(until=end)
        else:
            for k in range(1, steps + 1):
                self.env.run(until=end * k / steps)
                progress(k / steps)
        self.recorder.close()
