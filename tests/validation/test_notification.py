"""simcomm's update-delivery patterns against closed forms: short polling, long polling (and its
Kafka-style fetch) and push.

A theory-matching world: every client has its own Poisson stream of updates at rate ``lam``
(``scope: per_client``), constant one-way latency, an unlimited link unless the link is the
point of the test, 0-byte headers, encoding ``none`` (no serialisation or parsing time), 16
workers (never all busy here) and clients that process an update the moment it arrives.

Deterministic cases are checked exactly. Stochastic cases follow test_queueing.py: R independent
replications (``tests.stats.replicate``), one value per replication, a Student-t interval on
them (``tests.stats.mean_ci``), a power check (the interval must be narrower than a stated
fraction ``REL`` of the theory) and then ``|estimate - theory| <= half width``. The seeds are
fixed; the tolerance is the interval.

How the run lengths were sized: with N = R * n items in all (updates, polls or long-poll
cycles), the planned half width is t * sqrt(sigma2 / N), t = 3.883 (19 dof, two-sided 0.999),
sigma2 the variance constant per item. Most constants are exact here (derived at each test);
the M/D/1 one was measured with the Lindley recursion in numpy (300 replications of 20 000
customers) and the long-polling ones with the renewal-cycle model of a long poll in numpy (2
million cycles, confirmed on 400 fixed windows), independently of simcomm. Each REL is the
planned half width times 1.3 (the 95th percentile of s / sigma with 19 dof is 1.26), rounded
up. The finite-window biases of the per-run estimators are stated at each test and are all
under 1/10 of the half width.
"""

from __future__ import annotations

import math

import pytest

from simcomm import analytic, run
from tests.stats import mean_ci, replicate

R = 20
"""Replications per stochastic test."""
NO_HEADERS = {"request": 0, "response": 0, "update": 0, "ack": 0}


def scenario(pattern: dict, *, rate: float, window: float, warmup: float, latency: float,
             service: float = 0.0, clients: int = 10, size: str = "100B",
             network: dict | None = None, headers: dict | None = None,
             clients_cfg: dict | None = None, updates: dict | None = None) -> dict:
    """A theory-matching scenario (see the module docstring) measured over *window* seconds
    after *warmup*."""
    return {
        "name": "validation",
        "duration": warmup + window,
        "warmup": warmup,
        "network": network or {"latency": latency, "bandwidth": "unlimited"},
        "headers": headers or NO_HEADERS,
        "server": {"workers": 16, "service_time": service},
        "clients": {"count": clients, **(clients_cfg or {})},
        "workload": {"updates": {"rate": f"{rate}/s", "size": size, **(updates or {})},
                     "encoding": "none"},
        "pattern": pattern,
    }


def column(summaries, key: str) -> list[float]:
    return [float(s[key]) for s in summaries]


def check(runs, key: str, theory: float, rel: float) -> None:
    """The power check, then the interval check, on one metric of the replications."""
    est, half = mean_ci(column(runs, key), confidence=0.999)
    assert half < rel * theory, f"run too short to test anything: {key} {half=} {theory=}"
    assert abs(est - theory) <= half, f"{key}: {est=} {theory=} {half=}"


# ---------------------------------------------------------------------------------------------
# Short polling

SP_LAM, SP_T, SP_LAT, SP_SVC = 1.6, 0.5, 0.010, 0.020
"""Updates per second per client, poll interval, one-way latency, service time (s). lam T = 0.8:
45 % of the polls are empty and a delivery costs 2.5 messages."""


@pytest.fixture(scope="module")
def short_polling():
    """Short-polling replications shared by the three short-polling tests."""
    # 10 clients x 250 s x 20 replications: 80 000 updates and 100 000 polls in all.
    sc = scenario({"name": "short_polling", "interval": SP_T, "jitter": 0}, rate=SP_LAM,
                  window=250.0, warmup=2.0, latency=SP_LAT, service=SP_SVC)
    return replicate(sc, R, seed=20240701)


def test_short_poll_empty_ratio(short_polling):
    """A poll is empty when no update came in its interval: e^(-lam T)."""
    # The snapshots are exactly T apart (no jitter, constant latency, a worker always free), so
    # the polls see disjoint intervals of a Poisson process: independent Bernoulli(p) with
    # p = 0.449, sigma2 = p (1 - p) = 0.247 per poll. half = 3.883 sqrt(0.247 / 1e5) = 0.0061
    # = 1.4 % of p -> REL 2 %. Every response counted belongs to a whole interval: no window
    # bias beyond O(1 / polls).
    check(short_polling, "empty_ratio", analytic.short_poll_empty_ratio(SP_LAM, SP_T), 0.02)


def test_short_poll_mean_delay_includes_service(short_polling):
    """The snapshot is taken as the poll arrives, so the mean delay is T/2 + s + d."""
    # The wait for the snapshot of a Poisson update is uniform on its poll interval and
    # independent across updates: sigma2 = T^2 / 12 = 0.0208 s^2 exactly. half = 3.883
    # sqrt(0.0208 / 8e4) = 2.0 ms = 0.71 % of 280 ms -> REL 1 %. The service time (20 ms) is 10
    # half widths: a snapshot taken after the service (T/2 + d) would fail; so would a missing
    # latency (5 half widths). Window edge: the updates of the first, partial interval after
    # the warm-up wait less than T/2, a bias of about -T^2 / (12 W) = -0.08 ms (W = 250 s),
    # 3e-4 of the theory and 1/20 of the half width.
    theory = analytic.short_poll_mean_wait(SP_T) + SP_SVC + SP_LAT
    check(short_polling, "latency_mean", theory, 0.01)


def test_short_poll_messages_per_delivery(short_polling):
    """Each poll costs a request and a response and the polls carry lam T updates on average:
    2/(lam T) messages per delivery."""
    # The W/T polls of a client send exactly 2 W/T messages in the window (W is a multiple of
    # T), and the delivered count is Poisson: relative variance 1/(updates), half = 3.883 /
    # sqrt(8e4) = 1.4 % -> REL 2 %. Window edge: the updates still pending or on their way at
    # the end, lam (T/2 + s + d) = 0.45 per client against lam W = 400, bias the ratio by about
    # +1e-3 relative, 1/12 of the half width.
    theory = analytic.short_poll_messages_per_delivery(SP_LAM, SP_T)
    check(short_polling, "messages_per_delivery", theory, 0.02)


# Short polling with the pending set read after the service time, and answer work.

SP_WORK = 0.030
"""Answer work per non-empty answer (s): 15 half widths of the delay test below."""


@pytest.fixture(scope="module")
def short_polling_served():
    """Short-polling replications with ``snapshot: served`` and a constant answer work."""
    # The same sizes as `short_polling` (80 000 updates, 100 000 polls), so the same variance
    # constants and half widths apply.
    sc = scenario({"name": "short_polling", "interval": SP_T, "jitter": 0,
                   "snapshot": "served", "answer_work": SP_WORK},
                  rate=SP_LAM, window=250.0, warmup=2.0, latency=SP_LAT, service=SP_SVC)
    return replicate(sc, R, seed=20240702)


def test_short_poll_served_snapshot_empty_ratio(short_polling_served):
    """Reading after the (constant) service time shifts every snapshot by s: they stay T
    apart, so a poll is still empty with probability e^(-lam T); answer work on non-empty
    answers does not move the polls (they are timer-driven)."""
    # Same derivation as test_short_poll_empty_ratio: half 1.4 % of p -> REL 2 %.
    check(short_polling_served, "empty_ratio", analytic.short_poll_empty_ratio(SP_LAM, SP_T),
          0.02)


def test_short_poll_served_snapshot_delay_excludes_service(short_polling_served):
    """Read after the service time, an update waits T/2 for the snapshot, then the answer
    work and the way down: T/2 + w + d (no s)."""
    # Same variance constant as test_short_poll_mean_delay_includes_service (T^2/12 per
    # update): half = 2.0 ms = 0.69 % of 290 ms -> REL 1 %. Counting s (20 ms, 10 half widths)
    # or leaving out w (30 ms, 15 half widths) would fail.
    theory = analytic.short_poll_mean_wait(SP_T) + SP_WORK + SP_LAT
    check(short_polling_served, "latency_mean", theory, 0.01)


def test_short_poll_served_snapshot_messages_per_delivery(short_polling_served):
    """Two messages per poll, lam T updates per poll: 2/(lam T) either way."""
    # As test_short_poll_messages_per_delivery: REL 2 %.
    theory = analytic.short_poll_messages_per_delivery(SP_LAM, SP_T)
    check(short_polling_served, "messages_per_delivery", theory, 0.02)


def test_short_poll_arrival_snapshot_delay_adds_answer_work():
    """Read on arrival, an update also waits for the poll's service time: T/2 + s + w + d."""
    # 10 clients x 250 s x 20 replications, as above: half 2.0 ms = 0.63 % of 320 ms -> REL 1 %.
    sc = scenario({"name": "short_polling", "interval": SP_T, "jitter": 0,
                   "answer_work": SP_WORK},
                  rate=SP_LAM, window=250.0, warmup=2.0, latency=SP_LAT, service=SP_SVC)
    runs = replicate(sc, R, seed=20240703)
    theory = analytic.short_poll_mean_wait(SP_T) + SP_SVC + SP_WORK + SP_LAT
    check(runs, "latency_mean", theory, 0.01)


# ---------------------------------------------------------------------------------------------
# Long polling

LP_LAM, LP_TIMEOUT = 0.5, 2.0

LP_CASES = {
    # The case: a round trip of 2.1 ms against 1/lam = 2 s. The exact forms
    # (analytic.long_poll_messages_per_delivery, with latency and check time) differ from the
    # zero-round-trip limits 2 / (1 - e^(-lam tau)) and e^(-lam tau) by 0.06 % and 0.1 %: 1/17
    # of the half widths below, so either would pass; the exact one is used.
    # 5 clients x 1200 s x 20 replications, 0.7905 cycles per client-second: 94 860 cycles.
    # messages per delivery: sigma2 = 6.0 per cycle, half = 3.883 sqrt(6.0 / 94 860) = 0.031
    #   = 0.98 % of 3.162 -> REL 1.3 %.
    # empty ratio: sigma2 = 0.239, half = 3.883 sqrt(0.239 / 94 860) = 0.0062 = 1.7 % of
    #   0.3675 -> REL 2.2 %.
    "short-rtt": dict(latency=0.001, check=0.0001, window=1200.0, rel_msgs=0.013,
                      rel_empty=0.022),
    # A round trip of 210 ms, where the correction is what is tested: the zero-round-trip forms
    # are 6.4 % (messages, 4.8 half widths) and 10.5 % (empty ratio, 4 half widths) off.
    # 5 clients x 600 s x 20 replications, 0.7435 cycles per client-second: 44 610 cycles.
    # messages per delivery: sigma2 = 4.6, half = 3.883 sqrt(4.6 / 44 610) = 0.039 = 1.3 % of
    #   2.974 -> REL 1.8 %.
    # empty ratio: sigma2 = 0.225, half = 3.883 sqrt(0.225 / 44 610) = 0.0087 = 2.6 % of
    #   0.3329 -> REL 3.5 %.
    "long-rtt": dict(latency=0.100, check=0.010, window=600.0, rel_msgs=0.018,
                     rel_empty=0.035),
}


@pytest.fixture(scope="module", params=list(LP_CASES), ids=list(LP_CASES))
def long_polling(request):
    """One set of long-polling replications per round trip, shared by the two tests."""
    case = LP_CASES[request.param]
    sc = scenario({"name": "long_polling", "timeout": LP_TIMEOUT}, rate=LP_LAM,
                  window=case["window"], warmup=10.0, latency=case["latency"],
                  service=case["check"], clients=5)
    return case, replicate(sc, R, seed=20240702)


def test_long_poll_messages_per_delivery(long_polling):
    """Messages per delivery follow the renewal cycle of a long poll, 2 / (lam r + e^(-lam r)
    - e^(-lam (tau + 2d))) with r = 2d + s, which is 2/(1 - e^(-lam tau)) for a short trip."""
    # Derivation in analytic.long_poll_messages_per_delivery: an answer's snapshot starts a
    # cycle; updates that come in the 2d + s before the next poll is checked are answered at
    # once, then the poll waits for the first update or for its timeout, tau after it arrived.
    # Window edge: about one message per client per edge without its deliveries, against 2
    # messages per cycle: +0.05 % (short-rtt) and +0.1 % (long-rtt), under 1/10 of the half
    # width.
    case, runs = long_polling
    theory = analytic.long_poll_messages_per_delivery(LP_LAM, LP_TIMEOUT, case["latency"],
                                                      case["check"])
    check(runs, "messages_per_delivery", theory, case["rel_msgs"])


def test_long_poll_empty_ratio(long_polling):
    """A poll answers empty when no update came from the previous snapshot to its timeout:
    e^(-lam (tau + 2d)), about e^(-lam tau) for a short round trip."""
    # One Bernoulli per cycle, the cycles independent (renewal at each snapshot); the empty
    # window is the round trip 2d plus the timeout (counted from the poll's arrival).
    case, runs = long_polling
    theory = analytic.long_poll_empty_ratio(LP_LAM, LP_TIMEOUT + 2 * case["latency"])
    check(runs, "empty_ratio", theory, case["rel_empty"])


# ---------------------------------------------------------------------------------------------
# Kafka-style fetch: long polling with min_bytes

def test_fetch_carries_k_updates_and_waits_for_them():
    """With min_bytes = k b and a long timeout, each answer carries exactly k updates (2/k
    messages per delivery) and an update's mean delay is (k - 1)/(2 lam) + d."""
    lam, k, b, lat, clients = 2.0, 4, 100, 0.020, 5
    # The k-th update after a snapshot wakes the parked poll; the snapshot is that instant, and
    # the answer needs no worker time (encoding none, no service on answers) and travels d; the
    # poll's check time s came before the wait and delays no update. The i-th of the k waited
    # for the k - i interarrival times after it, (k - i)/lam on average: mean (k - 1)/(2 lam).
    # Exactly k per answer unless k updates come within the 2d + s = 41 ms before a poll is
    # parked (P = 1.7e-6 per answer, 0.04 in the 24 000 answers here) or the timeout comes
    # first (the k-th update later than 30 s: P < 1e-20).
    sc = scenario({"name": "long_polling", "timeout": 30.0, "min_bytes": f"{k * b}B"},
                  rate=lam, window=480.0, warmup=10.0, latency=lat, service=0.001,
                  clients=clients, size=f"{b}B")
    runs = replicate(sc, R, seed=20240703)
    for s in runs:
        assert s["empty_responses"] == 0
        # Per client, the cycle cut by the warm-up and the one in flight at the end each shift
        # messages - (2/k) delivered by at most 2; every other answer is 2 messages for k.
        assert abs(s["messages"] - 2 * s["delivered"] / k) <= 4 * clients, dict(s)
    # The pending time summed over a batch is sum_j j X_j (j = 1 .. k-1, X_j ~ Exp(lam)
    # independent), variance (k-1) k (2k-1) / (6 lam^2) per k updates: sigma2 = (k-1)(2k-1) /
    # (6 lam^2) = 0.875 s^2 per update. 5 clients x 480 s x 20 replications: 96 000 updates,
    # half = 3.883 sqrt(0.875 / 96 000) = 11.7 ms = 1.5 % of 770 ms -> REL 2.5 %. Sending
    # each update on its own, or after k/(2 lam), would be 32 % off. Window edge: the batch cut
    # by the warm-up loses its earliest (longest-waiting) updates, about -0.6 s / (lam W) per
    # client = -0.08 % of the theory, 1/18 of the half width.
    theory = analytic.batch_mean_pending(lam, k) + lat
    check(runs, "latency_mean", theory, 0.025)


# ---------------------------------------------------------------------------------------------
# Push

def test_push_over_established_connection_is_exact():
    """Updates that never queue arrive exactly d + 8 (B + H) / C after creation, one message
    each."""
    lat, payload, header, bandwidth = 0.020, 1000, 8, 1e6
    expected = lat + analytic.serialisation_time(payload + header, bandwidth)  # 28.064 ms
    # Periodic updates, one per second per client, each client on its own link: an 8 ms
    # message every second never waits for the transmitter.
    sc = scenario({"name": "push"}, rate=1.0, window=30.0, warmup=1.0, latency=lat,
                  size=f"{payload}B", clients=3, updates={"arrival": "periodic"},
                  network={"latency": lat, "bandwidth": bandwidth,
                           "topology": "per_client"},
                  headers={**NO_HEADERS, "update": header})
    sc["detail"] = "full"
    res = run(sc)
    s = res.summary
    msgs, dels = res.frames["messages"], res.frames["deliveries"]
    assert s["delivered"] >= 3 * 29
    assert s["latency_mean"] == pytest.approx(expected, rel=1e-9)
    assert s["latency_max"] == pytest.approx(expected, rel=1e-9)
    assert dels["latency"].min() == pytest.approx(expected, rel=1e-9)
    # Exactly one message per update: every update created in the window was handed to the
    # link at once, as one message of its own; those that arrived before the end are exactly
    # the deliveries.
    assert s["messages"] == s["issued"] == len(msgs) == msgs["flow"].nunique()
    assert set(msgs["kind"]) == {"update"}
    arrived = msgs[msgs["t_arrive"] < sc["duration"]]
    assert sorted(arrived["flow"]) == sorted(dels["flow"])
    assert s["bytes"] == s["messages"] * (payload + header)
    assert s["bytes_header"] == s["messages"] * header
    assert s["lost"] == 0 and s["empty_responses"] == 0


def test_push_on_shared_link_is_md1():
    """On one shared link the downlink is an M/D/1 queue: mean delay d + its sojourn with
    service 8 (B + H) / C."""
    lam, clients, lat = 5.0, 10, 0.005
    payload, header, bandwidth = 1242, 8, 1e6
    tx = analytic.serialisation_time(payload + header, bandwidth)  # 10 ms: rho = 50/s x 10 ms
    theory = analytic.md1_mean_sojourn(lam * clients, tx) + lat  # Wq = 5 ms of 20 ms
    # The 10 clients' Poisson streams merge into one Poisson stream of 50/s on the shared
    # downlink, a FIFO transmitter with constant service tx; the worker takes no time.
    # 100 s x 50/s x 20 replications: 100 000 updates. sigma2 = 3.1e-4 s^2 (Lindley), half =
    # 3.883 sqrt(3.1e-4 / 1e5) = 0.22 ms = 1.1 % of 20 ms -> REL 1.5 % (0.3 ms, 6 % of Wq;
    # an M/M/1 link would add 5 ms, a link per client would remove the 5 ms). Start-up: the
    # warm-up is 17 relaxation times (0.12 s); window edge: -Var(delay) / W < 1e-6 s.
    sc = scenario({"name": "push"}, rate=lam, window=100.0, warmup=2.0, latency=lat,
                  size=f"{payload}B", clients=clients,
                  network={"latency": lat, "bandwidth": bandwidth},  # topology: shared
                  headers={**NO_HEADERS, "update": header})
    runs = replicate(sc, R, seed=20240704)
    check(runs, "latency_mean", theory, 0.015)
    # One message per update, handed to the link as the update is created; the difference is
    # what is still on the link at the end: 50/s x 20 ms = 1 update on average (Little), more
    # than 10 with probability < 1e-6.
    for s in runs:
        assert 0 <= s["messages"] - s["delivered"] <= 10, dict(s)


# ---------------------------------------------------------------------------------------------
# Conservation

LOSSY_LAM, LOSSY_LAT, LOSSY_SVC, LOSSY_CAP = 2.0, 0.010, 0.005, 2.5
"""Updates per second per client, latency, service time, client capacity (updates/s): a client
busy for 0.4 s per update with no buffer drops whatever arrives meanwhile."""

CONSERVATION_CASES = {
    # horizon: the longest an update can stay in flight (created -> delivered or dropped)
    "short_polling": ({"name": "short_polling", "interval": 0.5}, {},
                      0.5 + LOSSY_SVC + LOSSY_LAT + 1 / LOSSY_CAP),
    "long_polling": ({"name": "long_polling", "timeout": 5.0}, {},
                     3 * LOSSY_LAT + LOSSY_SVC + 1 / LOSSY_CAP),
    "push": ({"name": "push", "offline": "drop"},
             {"session": {"dist": "exponential", "mean": "20s"},
              "gap": {"dist": "exponential", "mean": "5s"}},
             LOSSY_LAT + 1 / LOSSY_CAP),
}


@pytest.mark.parametrize("name", list(CONSERVATION_CASES))
def test_issued_updates_are_delivered_lost_or_in_flight(name):
    """issued = delivered + lost + in flight at the end, with in flight >= 0 and small."""
    pattern, presence, horizon = CONSERVATION_CASES[name]
    clients = 5
    sc = scenario(pattern, rate=LOSSY_LAM, window=60.0, warmup=5.0, latency=LOSSY_LAT,
                  service=LOSSY_SVC, clients=clients,
                  clients_cfg={"capacity": f"{LOSSY_CAP}/s", "buffer": 0, **presence})
    sc["seed"] = 20240705
    s = run(sc).summary
    assert s["delivered"] > 0 and s["lost"] > 0, "the identity must be exercised by losses"
    if name == "push":
        assert s["lost_offline"] > 0
    in_flight = s["issued"] - s["delivered"] - s["lost"]
    # Only updates created in the last `horizon` seconds can still be in flight: a Poisson
    # count of mean m = lam * clients * horizon (2 to 9 here); m + 6 sqrt(m) is exceeded with
    # probability < 1e-5.
    m = LOSSY_LAM * clients * horizon
    assert 0 <= in_flight <= m + 6 * math.sqrt(m), dict(s)


# ---------------------------------------------------------------------------------------------

def test_update_closed_forms_agree_with_each_other():
    """The polling closed forms reduce to the zero-round-trip limits and to one another."""
    lam, tau = 0.5, 2.0
    assert analytic.long_poll_messages_per_delivery(lam, tau) == pytest.approx(
        2 / (1 - analytic.long_poll_empty_ratio(lam, tau)))
    # a longer round trip makes answers fuller
    assert (analytic.long_poll_messages_per_delivery(lam, tau, 0.1, 0.01)
            < analytic.long_poll_messages_per_delivery(lam, tau, 0.001, 0.0001)
            < analytic.long_poll_messages_per_delivery(lam, tau))
    assert analytic.short_poll_messages_per_delivery(lam, 4.0) == pytest.approx(1.0)
    assert analytic.batch_mean_pending(lam, 1) == 0.0  # a batch of one waits for nothing
    assert analytic.batch_mean_pending(2.0, 4) == pytest.approx(0.75)
