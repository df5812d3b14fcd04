"""A workflow with a session: log in, take k steps that depend on the session, log out.

Each client runs one caller (``workload.requests.think_time``: a closed loop): every request
of the workload is a *step* of the client's current workflow. Before a workflow's first step
the client logs in (a request and an answer that creates a session, see
:mod:`simcomm.components.state`); after its ``steps``-th it logs out. Every step carries the
session; the server (the instance the balancer chose — ``sticky`` sends it to the session's
home) checks it:

* valid — the step is served like a request-response exchange (plus, stateless, the token's
  bytes and its verification; store, the lookup) and delivered;
* unknown (a 401: its instance lost it in a restart, another instance got it without the
  session in memory, it expired, or it was revoked) — the client logs in again
  (``relogins``) and repeats the step, once;
* a store lookup that fails — the step fails (an error, ``failed``).

A step's latency runs from its intended send time (the end of the think time) to its parsed
answer; logging in before it — the first login of a workflow, or a relogin — is its ``login``
part. Logins and logouts are tagged ``control`` (they deliver nothing by themselves).
"""

from __future__ import annotations

from pydantic import Field

from ..components.path import Trip
from ..components.state import REVOKED_ACCEPTED, UNKNOWN
from ..components.workload import drive_requests
from ..fields import NonNegSize, ScenarioError, Whole
from ..metrics.definitions import PART_NAMES, Kind, Part, Tag
from .base import Pattern, PatternParams, register

__all__ = ["Workflow"]

P = {name: int(getattr(Part, name.upper())) for name in PART_NAMES}
RESPONSE = int(Kind.RESPONSE)
USEFUL, CONTROL = int(Tag.USEFUL), int(Tag.CONTROL)


class WorkflowParams(PatternParams):
    steps: Whole = Field(5, ge=1, description="steps of a workflow between its login and its "
                         "logout")
    login_size: NonNegSize = Field(200.0, description="bytes of a login request's body "
                                   "(credentials)")


class _Client:
    __slots__ = ("done", "session")

    def __init__(self) -> None:
        self.session = None
        self.done = 0


@register("workflow")
class Workflow(Pattern):
    """Login → k steps → logout with a session kept stateful, stateless or in a store; a
    restart, a revocation or an expiry shows as relogins."""

    instances = True
    sessions = True

    Params = WorkflowParams

    @classmethod
    def check(cls, p: WorkflowParams, sc) -> None:
        req = sc.workload.requests
        if req is None or not req.closed:
            raise ScenarioError("", "workflow needs workload.requests with a think_time: each "
                                "client's steps follow one another (a closed loop)")

    def install(self, world) -> None:
        self.world, self.env, self.rec = world, world.env, world.recorder
        self.state = world.sessions
        enc = world.encoding
        self._factor = enc.size_factor
        self._ser, self._parse = enc.serialise_per_kib / 1024.0, enc.parse_per_kib / 1024.0
        self._clients = [_Client() for _ in world.clients]
        drive_requests(world, self._step, callers_per_client=1)

    # -- one step ------------------------------------------------------------------------------
    def _step(self, client, t0: float):
        env, world, rec, path = self.env, self.world, self.rec, self.world.path
        me = self._clients[client.index]
        flow = next(world.flow_ids)
        trip = Trip(flow)
        parts = trip.parts
        req_size, resp_size = world.sizes(client.index)
        req_b, resp_b = req_size() * self._factor, resp_size() * self._factor
        conn = yield from path.acquire(client)
        parts[P["client_wait"]] = env.now - t0
        try:
            if me.session is None:
                t = env.now
                if not (yield from self._login(conn, me)):
                    path.turned_away(trip, t0)
                    return
                parts[P["login"]] += env.now - t
            for attempt in (0, 1):
                step = Trip(flow)
                step.session = me.session
                verdict = yield from self._try(conn, step, req_b, resp_b)
                if verdict is not None:
                    break
                if attempt:  # a 401 right after logging in: give up on this step
                    verdict = False
                    break
                rec.event("relogins", t0)
                self.state.abandon(me.session)
                t = env.now
                if not (yield from self._login(conn, me)):
                    verdict = False
                    break
                parts[P["login"]] += env.now - t
            if verdict is True:
                for i, v in enumerate(step.parts):
                    parts[i] += v
                cp = resp_b * self._parse
                if cp:
                    yield env.timeout(cp)
                    parts[P["parse"]] += cp
                rec.delivery(t0, env.now, flow, client.index, parts)
            else:
                path.turned_away(step, t0)
            me.done += 1
            if me.done >= self.p.steps:
                yield from self._logout(conn, me)
        finally:
            path.end(conn)

    def _try(self, conn, step: Trip, req_b: float, resp_b: float):
        """``yield from``: one try of a step. Returns True (served), None (a 401: the session
        is unknown here) or False (refused or failed; ``step.failed`` says which)."""
        world, path, state = self.world, self.world.path, self.state
        h_req, h_resp = world.request_header, world.response_header
        t_sent = self.env.now
        if not (yield from path.up(conn, step, h_req + req_b + state.token_size, h_req)):
            return False
        if not (yield from state.lookup(step)):
            step.failed = True
            yield from path.refuse(conn, step, h_resp)
            return False
        server = step.server
        verdict = state.check(step.session, 0 if server is None else server.index, t_sent)
        if verdict == UNKNOWN:
            yield from path.refuse(conn, step, h_resp)  # 401: log in again
            return None
        if verdict == REVOKED_ACCEPTED:
            self.rec.event("revoked_accepted", t_sent)
        parse = (req_b + state.token_size) * self._parse
        if not (yield from path.work(step, parse + state.verify, resp_b * self._ser)):
            yield from path.refuse(conn, step, h_resp)
            return False
        yield from path.down(conn, step, h_resp + resp_b, h_resp, RESPONSE, USEFUL)
        return True

    def _login(self, conn, me: _Client):
        """``yield from``: log in; on success the client holds a new session. Returns
        whether it succeeded."""
        world, path, state = self.world, self.world.path, self.state
        h_req, h_resp = world.request_header, world.response_header
        trip = Trip(next(world.flow_ids))
        body = self.p.login_size
        ok = yield from path.exchange(conn, trip, h_req + body, h_req,
                                      h_resp + state.token_size, h_resp, body * self._parse,
                                      tag=CONTROL)
        if not ok:
            return False
        path.settle(trip, CONTROL)
        server = trip.server
        me.session = state.login(0 if server is None else server.index)
        me.done = 0
        return True

    def _logout(self, conn, me: _Client):
        world, path = self.world, self.world.path
        h_req, h_resp = world.request_header, world.response_header
        trip = Trip(next(world.flow_ids))
        trip.session = me.session
        ok = yield from path.exchange(conn, trip, h_req + self.state.token_size, h_req,
                                      h_resp, h_resp, tag=CONTROL)
        if ok:
            path.settle(trip, CONTROL)
        self.state.logout(me.session)
        me.session = None
        me.done = 0
