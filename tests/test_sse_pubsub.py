"""sse and pubsub: exact timelines with constant inputs, reconnections and restarts, fan-out,
delivery semantics, consumers, validation, and the properties every update pattern keeps."""

import numpy as np
import pandas as pd
import pytest

import simcomm
from tests.helpers import PARTS, created_times, in_flight, messy_world, of_kind, offline_windows

D = 0.010
RECONNECT = 4 * D
"""A new connection before a request can go: TCP (SYN, SYN-ACK) and TLS 1.3 (ClientHello, the
server's flight), 2 round trips (the default connection; resumed: the same round trips)."""
"""One-way latency of the small worlds, s."""
SERVICE = 0.050
"""Service time of the small worlds, s."""


def scenario(name, params=None, **over):
    """A small deterministic world: constant latency and service, one client, periodic
    updates of 100 B, no headers, no encoding cost, unlimited bandwidth."""
    sc = {
        "name": "t",
        "duration": 20.0,
        "warmup": 0.0,
        "seed": 3,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0, "update": 0, "ack": 0},
        "server": {"workers": 1, "service_time": SERVICE},
        "clients": {"count": 1},
        "workload": {"updates": {"rate": "1/s", "arrival": "periodic", "size": "100B"},
                     "encoding": "none"},
        "pattern": {"name": name, **(params or {})},
    }
    sc.update(over)
    return sc


def updates(rate="1/s", size="100B", **extra):
    return {"updates": {"rate": rate, "arrival": "periodic", "size": size, **extra},
            "encoding": "none"}










# -- sse: the stream ----------------------------------------------------------------------------

@pytest.mark.parametrize("framing", [None, "50B", "0B"])
def test_sse_delay_is_latency_plus_framed_serialisation(framing):
    """Over an established stream each event is one message of framing + B bytes: delay =
    d + 8(framing + B)/C."""
    params = {"heartbeat": None} if framing is None else {"heartbeat": None,
                                                          "framing": framing}
    f = 24 if framing is None else int(framing[:-1])  # 24 B by default
    sc = scenario("sse", params, network={"latency": D, "bandwidth": "1Mbps"},
                  workload=updates(size="1000B"))
    r = simcomm.run(sc)
    d, m, s = r.frames["deliveries"], r.frames["messages"], r.summary
    tx = 8 * (f + 1000) / 1e6
    assert len(d) == 20
    assert np.allclose(d.latency, D + tx, rtol=0, atol=1e-12)
    assert np.allclose(d.transmission_s, tx, rtol=0, atol=1e-12)
    assert np.allclose(d.propagation_s, D) and np.allclose(d.pending_s, 0)
    assert set(m.kind) == {"update"} and (m.tag == "useful").all()
    assert (m.bytes == f + 1000).all() and (m.header_bytes == f).all()
    assert (m.direction == "down").all()
    assert m.flow.value_counts().eq(1).all() and set(d.flow) == set(m.flow)
    assert s["messages"] == s["delivered"] == s["issued"]  # one message per delivery
    assert s["connections_opened"] == s["reconnects"] == 0
    assert np.isnan(s["catchup_s"]) and np.isnan(s["reconnect_peak_rate"])


def test_sse_heartbeats_every_interval_per_client():
    """Each connected client gets a keep-alive comment every `heartbeat` from its own phase,
    tagged heartbeat; heartbeats are messages but not deliveries."""
    sc = scenario("sse", {"heartbeat": "2s", "heartbeat_size": "5B"},
                  clients={"count": 3}, workload=updates(scope="global"))
    r = simcomm.run(sc)
    m, s = r.frames["messages"], r.summary
    hb = of_kind(m, "heartbeat")
    assert (hb.tag == "heartbeat").all() and (hb.direction == "down").all()
    assert (hb.bytes == 5).all() and (hb.header_bytes == 5).all()
    t = hb.t_send.to_numpy()
    phase = np.round(t % 2.0, 9)
    assert len(np.unique(phase)) == 3
    for p in np.unique(phase):
        mine = np.sort(t[phase == p])
        assert len(mine) == 10  # 20 s / 2 s
        assert np.allclose(np.diff(mine), 2.0, rtol=0, atol=1e-9)
    assert set(m.tag) == {"heartbeat", "useful"}
    assert s["messages"] == 30 + s["delivered"] and s["delivered"] == 3 * 20


def test_sse_heartbeats_pause_while_the_stream_is_down():
    """No keep-alive is written to a client whose stream dropped, until it has reconnected."""
    sc = scenario("sse", {"heartbeat": "250ms", "retry": "1s"}, duration=17.0,
                  clients={"count": 1, "session": "3s", "gap": "2s"})
    m = simcomm.run(sc).frames["messages"]
    hb = np.sort(of_kind(m, "heartbeat").t_send.to_numpy())
    connected = np.sort(of_kind(m, "response").t_send.to_numpy())  # the stream restarts
    assert len(connected) == 3
    for (off, _), back in zip(offline_windows(3.0, 2.0, 17.0), connected, strict=True):
        assert not ((hb >= off) & (hb < back)).any()
        assert ((hb >= back) & (hb < back + 0.25)).sum() == 1


# -- sse: reconnection and replay --------------------------------------------------------------

def sse_offline(**params):
    """One client online 3 s, offline 2 s …; 4 updates/s; no heartbeats."""
    return scenario("sse", {"heartbeat": None, **params}, duration=17.0,
                    clients={"count": 1, "session": "3s", "gap": "2s"},
                    workload=updates(rate="4/s"))


@pytest.mark.parametrize(("retry", "first"), [(1.0, 6.0), (2.5, 5.5)],
                         ids=["retry-shorter-than-gap", "retry-longer-than-gap"])
def test_sse_offline_client_reconnects_and_replays_what_it_missed(retry, first):
    """A client that went offline at a reconnects at a + retry, or retry after it is back if
    it was still away then — a new connection (RECONNECT), then a request and a response (tag
    control, one service time) — and the events it missed are replayed in order, their
    pending part spanning the gap. The new connection starts with the initial window of 10
    segments: the stream's response takes one, the first 9 replayed events (one segment
    each) arrive one latency after they are written, the rest one round trip later (the
    window has doubled by then)."""
    r = simcomm.run(sse_offline(retry=f"{retry}s"))
    d, m, s = r.frames["deliveries"], r.frames["messages"], r.summary
    req = of_kind(m, "request").sort_values("t_send")
    resp = of_kind(m, "response").sort_values("t_send")
    assert (req.tag == "control").all() and (resp.tag == "control").all()
    starts = first + np.array([0.0, 5.0, 10.0]) + RECONNECT
    assert np.allclose(req.t_send, starts, rtol=0, atol=1e-9)
    assert np.allclose(resp.t_send, starts + D + SERVICE, rtol=0, atol=1e-9)
    assert list(resp.flow) == list(req.flow)
    for (a, _), back in zip(offline_windows(3.0, 2.0, 17.0), resp.t_send, strict=True):
        missed = d[(d.t_start >= a) & (d.t_start < back)]
        assert len(missed) >= 8
        assert np.allclose(missed.pending_s, back - missed.t_start, rtol=0, atol=1e-9)
        first_round = np.arange(len(missed)) < 10 - 1
        assert len(missed) <= 9 + 20  # two rounds hold them all
        assert np.allclose(missed.sort_values("t_start").t_end,
                           np.where(first_round, back + D, back + 3 * D), rtol=0, atol=1e-9)
        sent = of_kind(m, "update").set_index("flow").loc[missed.flow]
        assert np.allclose(sent.t_send, back, rtol=0, atol=1e-9)
        assert list(sent.sort_values("t_send", kind="stable").index) == sorted(missed.flow)
    live = d[d.pending_s == 0]
    assert len(live) >= len(d) - 3 * 12
    assert np.allclose(live.latency, D, rtol=0, atol=1e-12)
    assert s["reconnects"] == s["connections_opened"] == 3
    assert s["lost"] == s["duplicates"] == s["rejected"] == 0
    assert s["issued"] - s["delivered"] in (0, 1)  # the last one may still be on the wire
    assert np.isnan(s["catchup_s"])  # no restart


def test_sse_small_replay_buffer_loses_the_older_missed_events_once():
    """With replay_buffer 5 only the last 5 of the 12 events created while the stream was
    down are replayed; the 7 before them are lost, each counted once."""
    r = simcomm.run(sse_offline(retry="1s", replay_buffer=5))
    d, m, s = r.frames["deliveries"], r.frames["messages"], r.summary
    back = np.sort(of_kind(m, "response").t_send.to_numpy())
    c = created_times(d, 4.0, 17.0)
    windows = offline_windows(3.0, 2.0, 17.0)
    lost = []
    for (a, _), b in zip(windows, back, strict=True):
        missed = c[(c >= a) & (c < b)]
        assert len(missed) == 12
        lost.append(missed[:-5])
        replayed = d[(d.t_start >= a) & (d.t_start < b)]
        assert np.allclose(np.sort(replayed.t_start), missed[-5:], rtol=0, atol=1e-9)
    lost = np.concatenate(lost)
    assert not np.isin(np.round(d.t_start, 9), np.round(lost, 9)).any()
    assert s["lost"] == len(lost) == 3 * 7
    assert s["lost_offline"] == s["lost"]  # the stream was down because the client was away
    assert s["duplicates"] == 0
    assert s["issued"] == len(c) and in_flight(s) in (0, 1)


# -- sse: restarts and reconnect storms ------------------------------------------------------------

def restart_world(clients=5, **params):
    """*clients* clients on one topic (1 update/s) and a server that restarts at 10.3 s; fixed
    retry 1 s; one worker of 50 ms."""
    server = params.pop("server", {})
    return scenario("sse", {"heartbeat": None, "retry": "1s", "restart_at": ["10.3s"],
                            **params},
                    clients={"count": clients}, workload=updates(scope="global"),
                    server={"workers": 1, "service_time": SERVICE, **server})


def test_sse_restart_drops_every_stream_and_all_reconnect_together():
    """A restart drops every stream and, with a fixed retry, every client reconnects in the
    same second (peak rate = clients); catch-up ends when the last handshake is served."""
    r = simcomm.run(restart_world())
    d, m, s = r.frames["deliveries"], r.frames["messages"], r.summary
    req, resp = of_kind(m, "request"), of_kind(m, "response")
    assert np.allclose(req.t_send, 10.3 + 1.0 + RECONNECT, rtol=0, atol=1e-9) and len(req) == 5
    served = 10.3 + 1.0 + RECONNECT + D + SERVICE * np.arange(1, 6)
    assert np.allclose(np.sort(resp.t_send), served, rtol=0, atol=1e-9)
    assert s["reconnects"] == s["connections_opened"] == 5
    assert s["reconnect_peak_rate"] == 5
    assert s["catchup_s"] == pytest.approx(served[-1] - 10.3, abs=1e-9)
    # each client's stream restarts at its handshake; what was created meanwhile is then
    # replayed, but the one worker is busy with the other handshakes until the last one is
    # served, so every event of the storm leaves then
    storm = d[(d.t_start >= 10.3) & (d.t_start < served[-1])]
    backs = []
    for _, mine in storm.groupby("client"):
        first = mine.loc[mine.t_start.idxmin()]  # created while every stream was down
        assert first.t_start < served[0]
        back = first.t_start + first.pending_s
        backs.append(back)
        pending = np.maximum(back - mine.t_start, 0.0)
        assert np.allclose(mine.pending_s, pending, rtol=0, atol=1e-9)
        assert np.allclose(mine.server_queue_s, served[-1] - mine.t_start - pending,
                           rtol=0, atol=1e-9)
    assert np.allclose(storm.t_end, served[-1] + D, rtol=0, atol=1e-9)
    assert np.allclose(sorted(backs), served, rtol=0, atol=1e-9)
    assert s["issued"] == s["delivered"] and s["lost"] == s["duplicates"] == 0


def test_sse_event_on_the_wire_at_a_restart_is_replayed_and_awaited_by_catchup():
    """An event travelling when its stream drops is never read: it is replayed after the
    reconnection (not lost, not duplicated), and catch-up lasts until it has arrived."""
    phase = simcomm.run(restart_world(restart_at=[])).frames["deliveries"].t_start.min() % 1
    t_restart = 10 + phase + D / 2  # the event of 10 + phase is half-way down the link
    r = simcomm.run(restart_world(restart_at=[t_restart]))
    d, s = r.frames["deliveries"], r.summary
    caught = d[np.isclose(d.t_start, 10 + phase, rtol=0, atol=1e-9)]
    assert sorted(caught.client) == [0, 1, 2, 3, 4]
    served = t_restart + 1.0 + RECONNECT + D + SERVICE * np.arange(1, 6)
    assert np.allclose(caught.t_end, served[-1] + D, rtol=0, atol=1e-9)
    assert np.allclose(np.sort(caught.pending_s + caught.t_start), served, rtol=0, atol=1e-9)
    assert s["issued"] == s["delivered"] and s["lost"] == s["duplicates"] == 0
    assert s["catchup_s"] == pytest.approx(served[-1] + D - t_restart, abs=1e-9)


def test_sse_catchup_is_nan_without_a_restart():
    """catchup_s is NaN when the server never restarts."""
    s = simcomm.run(restart_world(restart_at=[])).summary
    assert np.isnan(s["catchup_s"]) and s["reconnects"] == 0


def test_sse_exponential_backoff_spreads_the_storm():
    """With full-jitter backoff the first attempts spread over [0, retry]: fewer per second
    than with a fixed retry, where all 40 come in the same second."""
    fixed = simcomm.run(restart_world(clients=40, retry="4s", server={"workers": 8}))
    jitter = simcomm.run(restart_world(clients=40, retry="4s", backoff="exponential",
                                       server={"workers": 8}))
    assert fixed.summary["reconnect_peak_rate"] == 40
    assert fixed.summary["reconnects"] == jitter.summary["reconnects"] == 40
    assert jitter.summary["reconnect_peak_rate"] < 20
    t = of_kind(jitter.frames["messages"], "request").t_send.to_numpy()
    assert (t >= 10.3).all() and (t <= 10.3 + 4.0).all() and t.std() > 0.5
    for r in (fixed, jitter):
        assert np.isfinite(r.summary["catchup_s"])
        assert r.summary["lost"] == r.summary["duplicates"] == 0


def test_sse_restart_downtime_refuses_attempts():
    """Attempts reaching the server during restart_downtime are refused: nothing listens, so
    the first flight of the new connection (the SYN) is answered by a reset — not a queue
    rejection — and the client tries again retry after the reset arrives."""
    r = simcomm.run(restart_world(restart_downtime="1.5s"))
    m, s = r.frames["messages"], r.summary
    hs = of_kind(m, "handshake").sort_values("t_send")
    # 10.3 + 1 s: five SYNs reach the server, down until 11.8: five resets come back
    assert np.allclose(hs.t_send.iloc[:5], 11.3, rtol=0, atol=1e-9)
    assert np.allclose(hs.t_send.iloc[5:10], 11.3 + D, rtol=0, atol=1e-9)
    assert (hs.iloc[5:10].direction == "down").all() and (hs.iloc[5:10].bytes == 40).all()
    # retry after the reset: a new connection (RECONNECT), then the request
    req = np.sort(of_kind(m, "request").t_send.to_numpy())
    assert len(req) == 5
    assert np.allclose(req, 11.3 + 2 * D + 1.0 + RECONNECT, rtol=0, atol=1e-9)
    assert s["reconnects"] == 10 and s["connections_opened"] == 5
    assert s["rejected"] == 0
    assert s["catchup_s"] == pytest.approx(1.0 + 2 * D + 1.0 + RECONNECT + D + 5 * SERVICE,
                                           abs=1e-9)
    assert s["issued"] == s["delivered"] and s["lost"] == 0


def test_sse_queue_limit_rejects_part_of_a_storm_and_they_retry():
    """With one worker and no waiting room each wave of simultaneous attempts gets one client
    in; the others are rejected and retry: 4 + 3 + 2 + 1 rejections, 15 attempts."""
    s = simcomm.run(restart_world(server={"queue_limit": 0})).summary
    assert s["rejected"] == 10 and s["reconnects"] == 15 and s["connections_opened"] == 5
    assert s["issued"] == s["delivered"] and s["lost"] == s["duplicates"] == 0
    assert np.isfinite(s["catchup_s"])


def sse_conserving(**over):
    """A busy world without reordering on the links (constant latency, no loss): two topics,
    slow clients with small buffers, sessions, a small replay buffer and two restarts; every
    client is online and caught up at the end."""
    sc = {
        "duration": 27.9, "warmup": 2.0, "seed": 5,
        "network": {"latency": "5ms", "bandwidth": "2Mbps"},
        "server": {"workers": 2, "service_time": {"dist": "exponential", "mean": "5ms"},
                   "queue_limit": 1},
        "clients": {"count": 6, "session": "3s", "gap": "2s", "capacity": "20/s",
                    "buffer": 3},
        "workload": {"updates": {"rate": "5/s", "scope": "per_topic", "topics": 2,
                                 "size": {"dist": "exponential", "mean": "500B"}},
                     "encoding": "json"},
        "pattern": {"name": "sse", "retry": "300ms", "heartbeat": "1s", "replay_buffer": 5,
                    "restart_at": ["11.5s", "21.5s"], "restart_downtime": "200ms"},
    }
    sc.update(over)
    return sc


def test_sse_conservation_without_duplicates():
    """issued = delivered + lost + in flight, with no duplicates, through sessions, restarts,
    refused reconnections and a full client buffer."""
    s = simcomm.run(sse_conserving()).summary
    assert s["lost"] > 0 and s["reconnects"] > 12 and s["client_buffer_peak"] == 3
    assert s["rejected"] > 0  # some reconnections found the queue full
    assert s["duplicates"] == 0
    # at the end every client is connected: in flight are only what sits in its inbox
    # (<= buffer + 1) and what is on the wire
    assert 0 <= in_flight(s) <= 6 * (3 + 1 + 1)


@pytest.mark.parametrize("network", [{"latency": {"dist": "exponential", "mean": "10ms"}},
                                     {"latency": "10ms", "loss": 0.1}],
                         ids=["random-latency", "loss"])
def test_sse_reordering_on_the_link_is_not_a_duplicate(network):
    """An SSE stream is one ordered connection: no event is a duplicate and each one is
    delivered, even when the link reorders messages."""
    sc = scenario("sse", {"heartbeat": None},
                  network={"bandwidth": "unlimited", **network},
                  workload={"updates": {"rate": "50/s", "size": "100B"}, "encoding": "none"})
    s = simcomm.run(sc).summary
    assert s["duplicates"] == 0
    # what is still on its way at the end: events of the last few latencies, and, with loss,
    # of the last retransmission timeouts (a lost event holds back the ones behind it, as
    # TCP does): 50/s × 2 RTOs (0.4 s) = 20 bounds two losses in a row
    assert 0 <= in_flight(s) <= (5 if "loss" not in network else 25)


# -- pubsub: fan-out and delay --------------------------------------------------------------------

@pytest.mark.parametrize(("updates_cfg", "subs"), [
    ({"scope": "global"}, {0: [0, 1, 2, 3, 4, 5]}),
    ({"scope": "per_topic", "topics": 2}, {0: [0, 2, 4], 1: [1, 3, 5]}),
], ids=["global", "per_topic"])
def test_pubsub_fan_out_one_delivery_per_subscriber(updates_cfg, subs):
    """The publisher sends each update once; the broker delivers one copy to every subscriber
    of its topic: deliveries = publishes × subscribers."""
    sc = scenario("pubsub", clients={"count": 6},
                  workload=updates(rate="2/s", **updates_cfg),
                  server={"workers": 8, "service_time": SERVICE})
    r = simcomm.run(sc)
    d, m, s = r.frames["deliveries"], r.frames["messages"], r.summary
    publishes = of_kind(m, "update")
    publishes = publishes[publishes.direction == "up"]
    copies = of_kind(m, "update")
    copies = copies[copies.direction == "down"]
    assert len(publishes) == 2 * 20 * len(subs)  # 2/s per topic for 20 s
    assert publishes.flow.is_unique
    per_flow = d.groupby("flow").client.apply(sorted)
    done = publishes.flow[publishes.t_send < 20.0 - 2 * D - SERVICE - 1e-3]
    assert all(per_flow[f] in subs.values() for f in done)  # every subscriber of its topic
    assert (d.groupby("flow").size().loc[done] == 6 // len(subs)).all()
    assert s["delivered"] == len(d) == len(copies)
    assert s["issued"] == len(publishes) * 6 // len(subs)
    assert s["lost"] == s["duplicates"] == 0 and in_flight(s) >= 0


@pytest.mark.parametrize(("per_copy", "routes"), [
    ("2ms", [0.006]),
    ({"dist": "sequence", "values": ["1ms", "2ms"]}, [0.004, 0.005]),
], ids=["constant", "sequence"])
def test_pubsub_publish_worker_routes_every_copy_and_copies_leave_together(per_copy, routes):
    """One worker serves a publish to k = 3 subscribers in one visit — service + the k
    per_copy draws — and the k copies leave together when it ends: each arrives
    2d + s + (sum of the draws) after the publish was created."""
    sc = scenario("pubsub", {"per_copy": per_copy}, clients={"count": 3},
                  workload=updates(scope="global"))
    r = simcomm.run(sc)
    d, m, s = r.frames["deliveries"], r.frames["messages"], r.summary
    # per_copy is drawn once per copy, in creation order: constant 2 ms gives 3 × 2 = 6 ms of
    # routing per publish; the sequence 1, 2, 1 | 2, 1, 2 | 1, 2, 1 … gives 4, 5, 4, 5 … ms
    up = of_kind(m, "update")
    up = up[up.direction == "up"].sort_values("t_send")
    route = pd.Series([routes[i % len(routes)] for i in range(len(up))], index=up.flow)
    t_served = up.set_index("flow").t_arrive  # the publish reaches the broker (t + d) …
    t_done = t_served + SERVICE + route  # … and its one worker visit ends
    down = of_kind(m, "update")
    down = down[down.direction == "down"]
    assert len(down) == 3 * len(up)
    # the three copies of a publish are handed to their connections at the same instant
    assert np.allclose(down.t_send, t_done.loc[down.flow], rtol=0, atol=1e-12)
    assert (down.groupby("flow").connection.nunique() == 3).all()
    assert len(d) == len(down) == s["delivered"] == s["issued"] == 3 * 20
    assert np.allclose(d.latency, 2 * D + SERVICE + route.loc[d.flow].to_numpy(),
                       rtol=0, atol=1e-12)
    # routing is the broker's business logic: it shows in service_s
    assert np.allclose(d.service_s, SERVICE + route.loc[d.flow].to_numpy(), rtol=0, atol=1e-12)
    assert np.allclose(d.server_queue_s, 0) and np.allclose(d.parse_s, 0)
    assert np.allclose(d.pending_s, 0) and np.allclose(d.propagation_s, 2 * D)
    # the worker is busy service + routing once per publish, and for nothing else
    busy = (np.minimum(t_done, 20.0) - t_served).clip(lower=0).sum()
    assert s["server_busy_s"] == pytest.approx(busy, abs=1e-9)


def test_pubsub_copies_landing_together_share_one_event():
    """The copies of a publish leave together over equal links, so they land at one instant:
    they share one SimPy event (:func:`simcomm.components.task.later`). A fan-out to 50
    subscribers processes exactly as many events as one to a single subscriber (with an
    event per copy it would be 49 more per publish), and delivers 50 copies of each."""
    from simcomm import guard

    counts = {}
    for k in (1, 50):
        sc = simcomm.load(scenario("pubsub", clients={"count": k},
                                   workload=updates(scope="global")))
        counts[k] = guard.measure(sc, sc.variants[0], memory=False)
    assert counts[50]["deliveries"] == 50 * counts[1]["deliveries"] == 50 * 20
    assert counts[50]["events"] == counts[1]["events"] < 10 * 20


@pytest.mark.parametrize("encoding", ["none", "json"])
def test_pubsub_delay_is_two_hops_service_per_copy_and_serialisation(encoding):
    """With one subscriber (no fan-out queueing) a copy's delay is 2d + service + per_copy +
    8(H_request + B)/C on the publish link + 8(H_update + B)/C on the client link (+ the
    broker's parse and serialisation and the client's parse under json)."""
    per_copy = 40e-6  # broker worker seconds per copy, set below
    parse_per_kib, serialise_per_kib = 10e-6, 6e-6  # json's costs, set below
    sc = scenario("pubsub", {"per_copy": per_copy},
                  network={"latency": D, "bandwidth": "1Mbps"},
                  headers={"request": 100, "response": 50, "update": 8, "ack": 4},
                  encodings={"json": {"size_factor": 1.0, "parse_per_kib": parse_per_kib,
                                      "serialise_per_kib": serialise_per_kib}},
                  workload={"updates": {"rate": "1/s", "arrival": "periodic",
                                        "size": "1000B"}, "encoding": encoding})
    r = simcomm.run(sc)
    d, m = r.frames["deliveries"], r.frames["messages"]
    # publish link: 8 (100 + 1000) / 1 Mbps = 8.8 ms; client link: 8 (8 + 1000) / 1 Mbps =
    # 8.064 ms (size factor 1: 1000 B of payload on the wire either way)
    tx = 8 * (100 + 1000) / 1e6 + 8 * (8 + 1000) / 1e6
    # json: the broker parses the publish, serialises the copy, the client parses it:
    # 1000 B × (10 + 6 + 10) µs/KiB = 25.39 µs
    codec = (1000 * (parse_per_kib + serialise_per_kib + parse_per_kib) / 1024
             if encoding == "json" else 0.0)
    assert len(d) == 20
    assert np.allclose(d.latency, 2 * D + SERVICE + per_copy + tx + codec, rtol=0, atol=1e-12)
    assert np.allclose(d.service_s, SERVICE + per_copy) and np.allclose(d.propagation_s, 2 * D)
    assert np.allclose(d.transmission_s, tx) and np.allclose(d.parse_s, codec)
    assert np.allclose(d.pending_s, 0) and np.allclose(d.server_queue_s, 0)
    up, down = m[m.direction == "up"], m[m.direction == "down"]
    assert set(m.kind) == {"update"} and (m.tag == "useful").all()
    assert (up.bytes == 1100).all() and (up.header_bytes == 100).all()
    assert (down.bytes == 1008).all() and (down.header_bytes == 8).all()
    assert list(up.flow) == list(down.flow) == list(d.flow)


# -- pubsub: delivery semantics --------------------------------------------------------------------

def test_pubsub_at_least_once_under_ack_loss_never_loses_but_duplicates():
    """Lost acks make the broker send copies again: nothing is lost, some copies arrive twice,
    and every arrival (duplicates too) is acknowledged."""
    sc = scenario("pubsub", {"delivery": "at_least_once", "ack_timeout": "500ms",
                             "ack_loss": 0.3},
                  clients={"count": 4}, workload=updates(rate="5/s", scope="global"),
                  server={"workers": 4, "service_time": "1ms"}, duration=60.0)
    r = simcomm.run(sc)
    m, s = r.frames["messages"], r.summary
    assert s["lost"] == 0 and s["duplicates"] > 0 and s["redeliveries"] > 0
    acks = of_kind(m, "ack")
    assert (acks.tag == "control").all() and (acks.direction == "up").all()
    copies = of_kind(m, "update")
    copies = copies[copies.direction == "down"]
    arrived = s["delivered"] + s["duplicates"]
    assert 0 <= len(copies) - arrived <= 4 * 2  # the last ones may still be on their way
    assert 0 <= len(copies) - len(acks) <= 4 * 2
    assert 0 <= in_flight(s) <= 4 * 2


def test_pubsub_at_most_once_without_acks_never_duplicates():
    """at_most_once sends each copy once and expects no acknowledgement."""
    sc = scenario("pubsub", clients={"count": 4}, workload=updates(rate="5/s", scope="global"),
                  server={"workers": 4, "service_time": "1ms"})
    r = simcomm.run(sc)
    s = r.summary
    assert set(r.frames["messages"].kind) == {"update"}
    assert s["duplicates"] == s["redeliveries"] == s["lost"] == 0
    assert in_flight(s) >= 0


def pubsub_offline(**params):
    """One subscriber online 3 s, offline 2 s …; 4 updates/s; no broker CPU."""
    return scenario("pubsub", {"per_copy": 0, **params}, duration=17.0,
                    clients={"count": 1, "session": "3s", "gap": "2s"},
                    workload=updates(rate="4/s"), server={"workers": 1, "service_time": 0})


def test_pubsub_copies_wait_for_an_offline_subscriber():
    """Without retention a copy queued while its subscriber is away waits at the broker and
    is pushed when it is back and connected (RECONNECT later): nothing is lost to being
    offline."""
    r = simcomm.run(pubsub_offline())
    d, s = r.frames["deliveries"], r.summary
    for _, b in offline_windows(3.0, 2.0, 17.0):
        mine = d[(d.t_start + D >= b - 2.0) & (d.t_start + D < b)]
        assert len(mine) == 8
        assert np.allclose(mine.pending_s, b + RECONNECT - (mine.t_start + D), rtol=0,
                           atol=1e-9)
        assert np.allclose(mine.t_end, b + RECONNECT + D, rtol=0, atol=1e-9)
    assert s["lost"] == s["lost_offline"] == 0
    assert in_flight(s) in (0, 1)


def test_pubsub_retention_shorter_than_the_gaps_loses_expired_copies():
    """With retention 500 ms the copies that waited longer for their subscriber are dropped:
    6 of the 8 of each 2 s gap."""
    r = simcomm.run(pubsub_offline(retention="500ms"))
    d, s = r.frames["deliveries"], r.summary
    c = created_times(d, 4.0, 17.0)
    windows = offline_windows(3.0, 2.0, 17.0)
    # queued while the subscriber was away, and more than 500 ms old when it came back
    expired = np.any([(c + D >= a) & (c + D < b) & (b - c > 0.5) for a, b in windows], axis=0)
    assert expired.sum() == 3 * 6
    assert s["lost"] == expired.sum()
    assert not np.isin(np.round(d.t_start, 9), np.round(c[expired], 9)).any()
    assert s["issued"] == len(c) and in_flight(s) in (0, 1)


def test_pubsub_copies_expired_while_offline_count_as_lost_offline():
    """Copies dropped because their subscriber stayed away longer than the retention are lost
    to being offline."""
    s = simcomm.run(pubsub_offline(retention="500ms")).summary
    assert s["lost"] == 18
    assert s["lost_offline"] == s["lost"]


def test_pubsub_copy_arriving_after_its_redelivered_twin_expired():
    """A copy still travelling when the broker's retry of it is dropped by retention reaches
    its online subscriber and is delivered, not lost; the dropped retry was never sent, so it
    is no redelivery."""
    d = 0.200
    sc = scenario("pubsub", {"delivery": "at_least_once", "ack_timeout": "100ms",
                             "retention": "250ms", "per_copy": 0},
                  network={"latency": d, "bandwidth": "unlimited"},
                  server={"workers": 1, "service_time": 0}, duration=10.0)
    r = simcomm.run(sc)
    m, s = r.frames["messages"], r.summary
    # Timeline of an update created at c (no service, no per-copy work, no bytes cost): the
    # publish reaches the broker at c + d = c + 200 ms, which sends the copy at once; it
    # reaches the subscriber at c + 2d = c + 400 ms. The ack timer fires at c + 300 ms, before
    # any ack could come back (c + 600 ms): the broker's retry is then 300 ms old, beyond the
    # 250 ms retention, so it is dropped. The copy already on its way still arrives, to an
    # online client with an unbounded buffer: every copy that arrives before the end is
    # delivered, and none is lost.
    publishes = of_kind(m, "update")
    publishes = publishes[publishes.direction == "up"]
    assert len(publishes) == s["issued"] == 10  # 1/s for 10 s, one subscriber
    arrived = int((publishes.t_send + 2 * d < 10.0).sum())
    assert arrived >= 9
    assert s["delivered"] == arrived
    assert s["lost"] == 0
    # the only retry of each message was dropped at the broker, not sent: one copy went down
    # per publish that reached the broker, so no redelivery and no duplicate
    copies = of_kind(m, "update")
    copies = copies[copies.direction == "down"]
    assert len(copies) == int((publishes.t_send + d < 10.0).sum())
    assert s["redeliveries"] == s["duplicates"] == 0


def test_pubsub_message_is_lost_only_when_no_copy_can_reach_its_subscriber():
    """At least once with retention, a subscriber that comes and goes: a message is lost only
    when the broker has dropped it and no copy of it is still on its way — counted once,
    when that is known — and delivered whenever a copy reaches the online subscriber."""
    d, end = 0.200, 17.0
    sc = scenario("pubsub", {"delivery": "at_least_once", "ack_timeout": "100ms",
                             "retention": "250ms", "per_copy": 0},
                  network={"latency": d, "bandwidth": "unlimited"},
                  server={"workers": 1, "service_time": 0}, duration=end,
                  clients={"count": 1, "session": "3s", "gap": "2s"},
                  workload=updates(rate="20/s"))
    r = simcomm.run(sc)
    m, s = r.frames["messages"], r.summary
    windows = offline_windows(3.0, 2.0, end)
    # A subscriber back at b has its connection again at b + R (R = 4d: TCP + TLS 1.3).
    # An update created at c reaches the broker at c + d. Connected then, its copy goes at once,
    # arrives at c + 2d, and the ack timer (c + 300 ms) finds a retry 300 ms old: dropped by
    # retention (250 ms) if the subscriber is online to take it, else kept queued until it
    # returns and dropped then. Not connected at c + d, the copy waits for the connection at
    # b + R and goes if it is at most 250 ms old then (its retry, 100 ms later, is older than
    # that: dropped).
    # A copy is processed unless its subscriber goes offline while it travels. So:
    #   delivered — a copy travelled while the subscriber stayed online;
    #   lost — no copy sent (too old at the return), or the only copy travelled into an
    #          offline start o: lost at c + 2d if o > c + 300 ms (the retry was dropped while
    #          the copy flew), else at the return (the queued retry expires then).
    c = of_kind(m, "update")
    c = np.sort(c[c.direction == "up"].t_send.to_numpy())
    delivered = lost = lost_in_flight = 0
    reconnect = 4 * d
    for t in c:
        off = [(a, b + reconnect) for a, b in windows if a <= t + d < b + reconnect]
        sent = t + d if not off else (off[0][1] if off[0][1] - t <= 0.25 else None)
        into = [a for a, _ in windows if sent is not None and sent < a <= sent + d]
        if sent is None or into:
            lost += 1
            lost_in_flight += bool(into and into[0] > t + 0.3)
        elif sent + d < end:
            delivered += 1
    assert lost_in_flight >= 3 * 2  # 20/s: two of each offline start in (c + 300, c + 400]
    assert s["delivered"] == delivered
    assert s["lost"] == s["lost_offline"] == lost
    assert s["issued"] == len(c) and in_flight(s) == len(c) - delivered - lost
    assert s["redeliveries"] == s["duplicates"] == 0  # every retry was dropped, none sent


# -- pubsub: consumers ---------------------------------------------------------------------------

def test_pubsub_pull_empty_fetches_after_max_wait_are_tagged_empty():
    """A fetch that finds nothing is answered empty max_wait after it reached the broker
    (request and response tagged empty) and the next fetch leaves when that answer arrives;
    the worker time of an empty fetch (its handling, one service time) is wasted."""
    sc = scenario("pubsub", {"consumer": "pull", "max_wait": "1s"},
                  workload=updates(rate="0.04/s"))
    r = simcomm.run(sc)
    m, s = r.frames["messages"], r.summary
    req = of_kind(m, "request").set_index("flow").sort_values("t_send")
    resp = of_kind(m, "response").set_index("flow").loc[req.index[:-1]]
    empty = resp.tag == "empty"
    assert empty.sum() >= 15 and (~empty).sum() <= 1
    held = resp.t_send - req.t_send.loc[resp.index]
    assert np.allclose(held[empty], D + 1.0, rtol=0, atol=1e-9)
    assert (req.tag.loc[resp.index[empty]] == "empty").all()
    assert np.allclose(req.t_send.to_numpy()[1:], resp.t_arrive.to_numpy(), rtol=0, atol=1e-12)
    assert s["empty_responses"] == empty.sum()
    assert s["empty_ratio"] == pytest.approx(empty.sum() / len(of_kind(m, "response")))
    # each empty fetch: one service time to handle it, nothing to copy or serialise
    assert s["wasted_server_s"] == pytest.approx(empty.sum() * SERVICE)


def test_pubsub_pull_fetch_takes_what_is_queued_at_most_max_batch():
    """A fetch is answered at once with the queued copies, at most max_batch of them."""
    sc = scenario("pubsub", {"consumer": "pull", "max_wait": "1s", "max_batch": 2},
                  workload=updates(rate="20/s"), server={"workers": 1, "service_time": 0})
    r = simcomm.run(sc)
    m, s = r.frames["messages"], r.summary
    useful = of_kind(m, "response", "useful")
    assert set(useful.payload_bytes) <= {100, 200} and (useful.payload_bytes == 200).any()
    carried = useful.payload_bytes.sum() // 100
    assert 0 <= carried - s["delivered"] <= 2  # the last answer may still be on the wire
    assert s["lost"] == 0


def test_pubsub_parked_fetch_is_answered_when_a_message_is_queued():
    """A fetch parked at the broker is answered the moment a copy is queued: delay 2d + s +
    per_copy; the first fetch (at a phase in [0, max_wait)) takes everything queued before."""
    per_copy = 40e-6  # broker worker seconds per copy, set below
    r = simcomm.run(scenario("pubsub", {"consumer": "pull", "max_wait": "30s",
                                        "per_copy": per_copy}))
    d, m, s = r.frames["deliveries"], r.frames["messages"], r.summary
    first = of_kind(m, "response").sort_values("t_send").iloc[0]
    backlog = d[d.pending_s > 0]
    assert len(backlog) == first.payload_bytes // 100 >= 1
    assert np.allclose(backlog.t_end, first.t_arrive, rtol=0, atol=1e-12)
    parked = d[d.pending_s == 0]
    assert len(parked) >= 10
    # publish hop d, broker service, one copy's per_copy, answer hop d (no bytes cost: no
    # headers, unlimited link, encoding none): 10 + 50 + 0.04 + 10 ms = 70.04 ms
    assert np.allclose(parked.latency, 2 * D + SERVICE + per_copy, rtol=0, atol=1e-12)
    assert s["empty_responses"] == 0 and s["issued"] - s["delivered"] in (0, 1)


def test_pubsub_parked_fetch_wakes_for_an_update_of_any_size():
    """Sizes are kept as given: a parked fetch is answered when a 0.5 B update is queued, as
    for any other, not when a later one brings the queue to a whole byte."""
    r = simcomm.run(scenario("pubsub", {"consumer": "pull", "max_wait": "30s", "per_copy": 0},
                             workload=updates(size="0.5B")))
    d, s = r.frames["deliveries"], r.summary
    parked = d[d.pending_s == 0]
    assert len(parked) >= 10
    assert np.allclose(parked.latency, 2 * D + SERVICE, rtol=0, atol=1e-12)
    assert s["issued"] - s["delivered"] in (0, 1)


@pytest.mark.parametrize("prefetch", [1, 3])
def test_pubsub_prefetch_bounds_unacked_copies(prefetch):
    """With prefetch N at most N copies are unacknowledged: a slow client's buffer never holds
    more than N - 1 and nothing is dropped."""
    sc = scenario("pubsub", {"delivery": "at_least_once", "ack_timeout": "10s",
                             "prefetch": prefetch},
                  clients={"count": 1, "capacity": "2/s", "buffer": 2},
                  workload=updates(rate="5/s"), server={"workers": 1, "service_time": 0})
    r = simcomm.run(sc)
    m, s = r.frames["messages"], r.summary
    assert s["lost"] == 0 and s["redeliveries"] == s["duplicates"] == 0
    assert s["client_buffer_peak"] <= prefetch - 1
    copies = of_kind(m, "update")
    copies = copies[copies.direction == "down"]
    acks = of_kind(m, "ack")
    assert 0 <= len(copies) - len(acks) <= prefetch  # unacknowledged at the end
    assert s["throughput"] == pytest.approx(min(2.0, prefetch / (0.5 + 2 * D)), abs=1.5 / 20)


def test_pubsub_without_prefetch_a_slow_client_drops_and_at_least_once_redelivers():
    """Without prefetch copies overflow a slow client's buffer: at_most_once loses them,
    at_least_once sends them again after ack_timeout and loses none."""
    base = {"clients": {"count": 1, "capacity": "2/s", "buffer": 2},
            "workload": updates(rate="5/s"), "server": {"workers": 1, "service_time": 0}}
    amo = simcomm.run(scenario("pubsub", **base)).summary
    alo = simcomm.run(scenario("pubsub", {"delivery": "at_least_once", "ack_timeout": "10s"},
                               **base)).summary
    assert amo["lost"] > 0 and amo["lost_offline"] == 0 and amo["client_buffer_peak"] == 2
    assert alo["lost"] == 0 and alo["redeliveries"] > 0


# -- validation ----------------------------------------------------------------------------------

def test_at_least_once_needs_an_ack_timeout():
    """at_least_once without ack_timeout is rejected naming ack_timeout."""
    with pytest.raises(simcomm.ScenarioError, match="ack_timeout") as e:
        simcomm.load(scenario("pubsub", {"delivery": "at_least_once"}))
    assert e.value.field == "pattern.ack_timeout"


@pytest.mark.parametrize("params", [
    {"prefetch": 2},
    {"consumer": "pull", "delivery": "at_least_once", "ack_timeout": "1s", "prefetch": 2},
], ids=["at_most_once", "pull"])
def test_prefetch_applies_to_push_at_least_once_only(params):
    """prefetch with at_most_once, or with a pull consumer, is rejected naming prefetch."""
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(scenario("pubsub", params))
    assert e.value.field == "pattern.prefetch"


@pytest.mark.parametrize(("name", "params", "field", "message"), [
    ("pubsub", {"delivery": "at_least_once", "ack_timeout": "1s", "prefetch": 0}, "prefetch",
     "greater than or equal to 1"),
    ("pubsub", {"consumer": "pull", "max_batch": 0}, "max_batch", "greater than or equal to 1"),
    ("sse", {"replay_buffer": -1}, "replay_buffer", "greater than or equal to 0"),
    ("pubsub", {"delivery": "at_least_once", "ack_timeout": 0}, "ack_timeout", "> 0"),
    ("pubsub", {"retention": "0s"}, "retention", "> 0"),
    ("pubsub", {"consumer": "pull", "max_wait": 0}, "max_wait", "> 0"),
    ("pubsub", {"delivery": "at_least_once", "ack_timeout": "1s", "ack_loss": 1.0},
     "ack_loss", "less than 1"),
    ("pubsub", {"ack_timeout": "1s"}, "ack_timeout", "at_least_once only"),
    ("pubsub", {"max_wait": "1s"}, "max_wait", "pull only"),
    ("pubsub", {"per_copy": "-1us"}, "per_copy", ">= 0"),
    ("pubsub", {"per_copy": {"dist": "exponential", "mean": "-1us"}}, "per_copy.mean", "> 0"),
    ("sse", {"retry": 0}, "retry", "> 0"),
    ("sse", {"heartbeat": 0}, "heartbeat", "> 0"),
    ("sse", {"backoff_cap": 0}, "backoff_cap", "> 0"),
    ("sse", {"restart_at": [0]}, "restart_at.0", "> 0"),
    ("sse", {"restart_downtime": "-1s"}, "restart_downtime", ">= 0"),
    ("sse", {"heartbeat_size": "-1B"}, "heartbeat_size", ">= 0"),
])
def test_bad_parameters_are_rejected_naming_the_key(name, params, field, message):
    """A window of 0, a negative buffer, a timeout <= 0 … are rejected naming the key."""
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(scenario(name, params))
    assert e.value.field == f"pattern.{field}"
    assert message in e.value.message


@pytest.mark.parametrize("name", ["sse", "pubsub"])
def test_topic_without_subscribers_is_rejected(name):
    """per_topic with more topics than clients is rejected naming workload.updates.topics."""
    sc = scenario(name, clients={"count": 2},
                  workload={"updates": {"rate": "1/s", "scope": "per_topic", "topics": 3},
                            "encoding": "none"})
    with pytest.raises(simcomm.ScenarioError, match="no subscriber") as e:
        simcomm.load(sc)
    assert e.value.field == "workload.updates.topics"


@pytest.mark.parametrize("name", ["sse", "pubsub"])
def test_needs_updates(name):
    """sse and pubsub on a scenario without workload.updates are rejected."""
    sc = scenario(name, workload={"requests": {"rate": "1/s"}, "encoding": "none"})
    with pytest.raises(simcomm.ScenarioError, match=r"needs workload\.updates") as e:
        simcomm.load(sc)
    assert e.value.field == "pattern"


# -- every mode ------------------------------------------------------------------------------------

MODES = {
    "sse": {"name": "sse", "retry": "500ms", "heartbeat": "1s", "replay_buffer": 5,
            "restart_at": ["10s", "20s"], "restart_downtime": "300ms"},
    "sse-backoff": {"name": "sse", "retry": "500ms", "backoff": "exponential",
                    "replay_buffer": 20, "restart_at": ["15s"]},
    "push-at-most-once": {"name": "pubsub", "retention": "1s"},
    "push-at-least-once": {"name": "pubsub", "delivery": "at_least_once",
                           "ack_timeout": "300ms", "prefetch": 2, "ack_loss": 0.1},
    "push-at-least-once-retention": {"name": "pubsub", "delivery": "at_least_once",
                                     "ack_timeout": "300ms", "ack_loss": 0.1,
                                     "retention": "1s"},
    "pull-at-most-once": {"name": "pubsub", "consumer": "pull", "max_wait": "200ms",
                          "max_batch": 3},
    "pull-at-least-once": {"name": "pubsub", "consumer": "pull", "delivery": "at_least_once",
                           "ack_timeout": "300ms", "ack_loss": 0.1, "max_wait": "200ms"},
}


def messy(mode):
    """The messy world with two topics (fan-out)."""
    return messy_world(MODES[mode], scope="per_topic", topics=2)


@pytest.mark.parametrize("mode", list(MODES))
def test_decomposition_adds_up(mode):
    """The latency parts add up to latency and are >= 0 in every mode."""
    r = simcomm.run(messy(mode))
    d, s = r.frames["deliveries"], r.summary
    assert len(d) > 300
    assert np.allclose(d[PARTS].sum(axis=1), d.latency, rtol=0, atol=1e-9)
    assert (d[PARTS] >= 0).all().all()
    assert (d.latency > 0).all()
    assert s["lost_offline"] <= s["lost"]


@pytest.mark.parametrize("mode", [m for m in MODES if m.startswith(("push", "pull"))])
def test_pubsub_counts_balance(mode):
    """issued = delivered + lost + in flight; at_least_once loses nothing, at_most_once
    duplicates nothing."""
    s = simcomm.run(messy(mode)).summary
    assert 0 <= in_flight(s) <= 4 * 20  # at most what waits per subscriber at the end
    if "least" in mode:
        assert s["duplicates"] > 0 and s["redeliveries"] > 0
        if "retention" not in mode:
            assert s["lost"] == 0
    else:
        assert s["duplicates"] == s["redeliveries"] == 0


@pytest.mark.parametrize("mode", list(MODES))
def test_same_seed_same_frames(mode):
    """The same scenario and seed give identical frames."""
    a, b = simcomm.run(messy(mode)).frames, simcomm.run(messy(mode)).frames
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key])


def test_the_sse_replay_log_keeps_the_last_events_compactly():
    """The replay log keeps ids and sizes of the last replay_buffer events; replayed updates
    are rebuilt with their sequence numbers and the topic's creation times."""
    from array import array

    from simcomm.components.updates import Update
    from simcomm.patterns.sse import _ReplayLog

    created = array("d")
    log = None
    for seq in range(7):
        u = Update(100 + seq, 3, 0.5 * seq, 10.0 * seq)
        if log is None:
            log = _ReplayLog(len(created))
        log.add(u, 4)
        created.append(u.t_created)
    assert len(log) == 4 and log.first == 3
    assert list(log.events(3, created)) == [(s, Update(100 + s, 3, 0.5 * s, 10.0 * s))
                                            for s in range(3, 7)]
    none = _ReplayLog(0)
    none.add(Update(1, 0, 0.0, 1.0), 0)
    assert len(none) == 0 and not none
