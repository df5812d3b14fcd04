"""simcomm against closed forms: queueing theory, serialisation, round trips and loss.

A theory-matching world: Poisson arrivals spread over nothing (one client, async callback,
unlimited concurrency, so no request is ever held back by the client and each one is an
independent queueing customer), constant one-way latency ``LAT`` on an unlimited link (no
serialisation, no link queueing), 0-byte headers and no payloads. The latency of a request is
then its sojourn in the server plus ``2 * LAT``.

Deterministic cases are checked exactly. Stochastic cases follow STYLE.md: R independent
replications (``tests.stats.replicate``), one value per replication, a Student-t interval on
them (``tests.stats.mean_ci``), a power check (the interval must be narrower than a stated
fraction ``REL`` of the theory, else the run is too short to test anything) and then
``|estimate - theory| <= half width``. The seeds are fixed; the tolerance is the interval.

How the run lengths were sized: for a per-replication estimate made of n customers, the
variance of the estimate is about sigma2 / n, where sigma2 is the "asymptotic variance
constant" (per customer, autocorrelation included). It was measured independently of simcomm,
with the Lindley recursion (M/M/1, M/D/1) and the Kiefer-Wolfowitz recursion (M/M/4) in numpy,
hundreds of replications each. With N = R * n customers in all, the planned half width is
t * sqrt(sigma2 / N); each REL is the planned half width times 1.3 (the 95th percentile of
s / sigma with 19 degrees of freedom is 1.26), rounded up, so the power check passes for any
reasonable seed.

Bias that is not in the interval, and why it is negligible here:

* start-up: every replication starts empty; its warm-up is >= 5 relaxation times
  1 / (mu (1 - sqrt(rho))^2) of the queue (M/M/1: 0.12 s at rho = 0.5, 3.8 s at rho = 0.9);
* the window edge: a request counts only if it completes before ``duration``, which removes
  the longest latencies of the last moments and biases the mean by about -Var(latency) /
  window (more at high load, where the requests still in the system at the end are the slow
  ones of a busy period): <= 0.1 % of the theory in every stochastic test here, under 1/10 of
  a half width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from simcomm import analytic, run
from tests.stats import mean_ci, replicate

MU = 100.0
"""Service rate of one worker, 1/s (mean service time 10 ms)."""
LAT = 0.0025
"""One-way network latency, s (constant): 2 * LAT = 5 ms is 20 % of the M/M/1 latency at
rho = 0.5, so a missing or doubled direction is far outside every interval below."""
R = 20
"""Replications per stochastic test."""
T999 = 3.883  # t quantile, 19 dof, two-sided 0.999 (planning only; mean_ci computes its own)
T99 = 2.861  # t quantile, 19 dof, two-sided 0.99


MUX = {"protocol": "h2", "max_streams": 100_000}
"""One HTTP/2 connection with a stream for every request in flight: requests in flight never
wait for a connection (HTTP/1.1's one-exchange-per-connection pool is not what these tests
are about; tests/validation/test_setup_costs.py and the pool tests are)."""


def scenario(*, rate: float, window: float, warmup: float, service, workers: int = 1,
             network: dict | None = None, clients: int = 1, arrival: str = "poisson") -> dict:
    """A theory-matching scenario (see the module docstring) measured over *window* seconds
    after *warmup*."""
    return {
        "name": "validation",
        "duration": warmup + window,
        "warmup": warmup,
        "network": network or {"latency": LAT, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "workload": {"requests": {"rate": f"{rate}/s", "arrival": arrival},
                     "encoding": "none"},
        "server": {"workers": workers, "service_time": service},
        "clients": {"count": clients},
        "connection": MUX,
        "pattern": {"name": "request_response", "client": "async", "completion": "callback",
                    "concurrency": None},
    }


def exponential_service() -> dict:
    return {"dist": "exponential", "mean": 1.0 / MU}


def column(summaries, key: str) -> list[float]:
    return [float(s[key]) for s in summaries]


# ---------------------------------------------------------------------------------------------
# Deterministic: exact timelines

def one_request_scenario(*, latency: float, bandwidth, service: float, request_size=None,
                         response_size=None, headers=(0, 0), duration: float = 10.0) -> dict:
    """A sync caller that thinks 1 s, sends one request, waits for it, thinks 1 s again …"""
    workload = {"requests": {"think_time": 1.0}, "encoding": "none"}
    if request_size is not None:
        workload["request_size"] = request_size
    if response_size is not None:
        workload["response_size"] = response_size
    return {
        "duration": duration,
        "network": {"latency": latency, "bandwidth": bandwidth},
        "headers": {"request": headers[0], "response": headers[1]},
        "server": {"workers": 1, "service_time": service},
        "workload": workload,
        "pattern": {"name": "request_response", "client": "sync"},
    }


def exact_count(duration: float, latency: float) -> int:
    """Deliveries of a 1 s-think sync caller completed before *duration*: the k-th request
    (k = 0, 1, …) starts at 1 + k (1 + latency) and ends *latency* later."""
    return math.floor((duration - 1.0 - latency) / (1.0 + latency)) + 1


@pytest.mark.parametrize(("headers", "bandwidth"), [((0, 0), 100e6), ((400, 300), 10e6)],
                         ids=["no-headers-100Mbps", "headers-10Mbps"])
def test_large_payload_takes_its_serialisation_time(headers, bandwidth):
    """A 1 MB request answered with 2 MB, on a zero-latency link with zero service time,
    takes exactly 8 * (bytes on the wire) / bandwidth."""
    req, resp = 1_000_000, 2_000_000
    wire = req + resp + sum(headers)
    expected = (analytic.serialisation_time(req + headers[0], bandwidth)
                + analytic.serialisation_time(resp + headers[1], bandwidth))
    assert expected == pytest.approx(8 * wire / bandwidth, rel=1e-12)
    duration = 1.0 + expected + 0.5  # the request goes at 1 s; the next would at 2 s + expected
    sc = one_request_scenario(latency=0.0, bandwidth=bandwidth, service=0.0,
                              request_size=f"{req}B", response_size=f"{resp}B",
                              headers=headers, duration=duration)
    s = run(sc).summary
    assert s["delivered"] == exact_count(duration, expected) == 1
    assert s["latency_mean"] == pytest.approx(expected, rel=1e-9)
    assert s["latency_max"] == pytest.approx(expected, rel=1e-9)
    assert s["messages"] == 2
    assert s["bytes"] == wire


def test_request_on_established_connection_is_one_rtt_plus_service():
    """On an established keep-alive connection each request takes exactly one round trip
    plus the service time: no handshake, no serialisation on an unlimited link."""
    d, svc = 0.025, 0.010
    expected = 2 * d + svc
    s = run(one_request_scenario(latency=d, bandwidth="unlimited", service=svc)).summary
    assert s["delivered"] == exact_count(10.0, expected) == 9
    assert s["latency_mean"] == pytest.approx(expected, rel=1e-9)
    assert s["latency_max"] == pytest.approx(expected, rel=1e-9)  # so every one is exact
    assert s["connections_opened"] == 0


# ---------------------------------------------------------------------------------------------
# M/M/1

@dataclass(frozen=True)
class MM1Case:
    rho: float
    warmup: float
    """s; >= 5 relaxation times and >= 20 mean sojourns."""
    window: float
    """s of measurement per replication."""
    confidence: float
    rel_mean: float
    rel_p95: float
    p95_bias: float
    """Bound on the relative finite-sample bias of one replication's sample p95 (see
    ``test_mm1_p95_sojourn``)."""


MM1_CASES = [
    # rho = 0.5: lam = 50/s, n = 10 000 per replication, N = 200 000.
    # mean: sigma2 = 0.0034 s^2, half = 3.883 sqrt(0.0034 / 2e5) = 0.51 ms = 2.0 % of 25 ms
    #       -> REL 3 %.
    # p95:  sigma2 = 0.055 s^2, half = 3.883 sqrt(0.055 / 2e5) = 2.0 ms = 3.2 % of 64.9 ms
    #       -> REL 5 %.
    MM1Case(rho=0.5, warmup=2.0, window=200.0, confidence=0.999, rel_mean=0.03,
            rel_p95=0.05, p95_bias=0.003),
    # rho = 0.9: lam = 90/s, n = 72 000 per replication, N = 1.44 million (about 45 s of CPU,
    # half the validation budget). The mean's variance constant is 1000 times that at
    # rho = 0.5 (it grows like (1 - rho)^-4).
    # mean: sigma2 = 3.7 s^2, half = 2.861 sqrt(3.7 / 1.44e6) = 4.6 ms = 4.4 % of 105 ms
    #       -> REL 6 %.
    # p95:  sigma2 = 64 s^2, half = 2.861 sqrt(64 / 1.44e6) = 19 ms = 6.3 % of 305 ms
    #       -> REL 10 %.
    # Confidence 0.99, not 0.999: the same REL at 0.999 needs (3.883 / 2.861)^2 = 1.84 times
    # the run (another ~40 s), over budget. The price is a 1 % false-alarm chance for each of
    # these two assertions whenever the simulator's random streams change.
    MM1Case(rho=0.9, warmup=20.0, window=800.0, confidence=0.99, rel_mean=0.06,
            rel_p95=0.10, p95_bias=0.012),
]


@pytest.fixture(scope="module", params=MM1_CASES, ids=lambda c: f"rho={c.rho}")
def mm1(request):
    """One set of M/M/1 replications per load, shared by the mean and the p95 tests."""
    case = request.param
    sc = scenario(rate=case.rho * MU, window=case.window, warmup=case.warmup,
                  service=exponential_service())
    return case, replicate(sc, R, seed=20240601)


def test_mm1_mean_sojourn(mm1):
    """Mean latency of an M/M/1 server behind a constant-latency link is 1/(mu - lam) + 2d."""
    case, runs = mm1
    lam = case.rho * MU
    theory = analytic.mm1_mean_sojourn(lam, MU) + 2 * LAT
    est, half = mean_ci(column(runs, "latency_mean"), confidence=case.confidence)
    assert half < case.rel_mean * theory, "run too short to test anything"
    assert abs(est - theory) <= half, f"{est=} {theory=} {half=}"


def test_mm1_p95_sojourn(mm1):
    """The 95th percentile of M/M/1 latency is -ln(0.05)/(mu - lam) + 2d (sojourn ~ Exp)."""
    case, runs = mm1
    lam = case.rho * MU
    theory = analytic.mm1_sojourn_quantile(lam, MU, 0.95) + 2 * LAT
    est, half = mean_ci(column(runs, "latency_p95"), confidence=case.confidence)
    assert half < case.rel_p95 * theory, "run too short to test anything"
    # Each replication's p95 is a sample quantile of n correlated latencies: consistent, but
    # biased by O(1/n), and that bias does not average out over replications. A Lindley
    # recursion study at these n and warm-ups (2000 replications each) found -0.07 % +- 0.09 %
    # at rho = 0.5 and +0.5 % +- 0.2 % at rho = 0.9; case.p95_bias is |bias| + 2 standard
    # errors, rounded up. It must stay well inside the interval, or the interval would be
    # testing the bias rather than the simulator.
    assert case.p95_bias * theory < half / 3, "p95 bias not negligible against the interval"
    assert abs(est - theory) <= half, f"{est=} {theory=} {half=}"


# ---------------------------------------------------------------------------------------------
# M/M/c and M/D/1

def test_mmc_mean_sojourn_follows_erlang_c():
    """Four workers at rho = 0.75: mean latency is the Erlang C wait + 1/mu + 2d."""
    c, lam = 4, 300.0
    theory = analytic.mmc_mean_sojourn(lam, MU, c) + 2 * LAT  # Wq = 5.09 ms of 20.1 ms
    # n = 21 000 per replication, N = 420 000; sigma2 = 0.0046 s^2 (Kiefer-Wolfowitz, 600
    # replications), taken as 0.005 because it is heavy-tailed at this n; half = 3.883
    # sqrt(0.005 / 4.2e5) = 0.42 ms = 2.1 % of 20.1 ms -> REL 3 % (0.6 ms, 12 % of the Erlang C
    # wait: a pool taken for one fast server, W = 1/(c mu - lam) + 2d, or for three or five
    # workers, is off by 17 % or more).
    rel = 0.03
    sc = scenario(rate=lam, window=70.0, warmup=2.0, service=exponential_service(),
                  workers=c)
    runs = replicate(sc, R, seed=20240602)
    est, half = mean_ci(column(runs, "latency_mean"), confidence=0.999)
    assert half < rel * theory, "run too short to test anything"
    assert abs(est - theory) <= half, f"{est=} {theory=} {half=}"


def test_md1_mean_sojourn_follows_pollaczek_khinchine():
    """Constant 10 ms service at rho = 0.7: mean latency is rho d / (2 (1 - rho)) + d + 2d_net."""
    lam, d = 70.0, 1.0 / MU
    theory = analytic.md1_mean_sojourn(lam, d) + 2 * LAT  # Wq = 11.7 ms of 26.7 ms
    # n = 12 600 per replication, N = 252 000; sigma2 = 0.0034 s^2 (Lindley);
    # half = 3.883 sqrt(0.0034 / 2.52e5) = 0.45 ms = 1.7 % of 26.7 ms -> REL 2.5 % (0.67 ms,
    # 6 % of Wq; exponential service at the same load would add 11.7 ms).
    rel = 0.025
    sc = scenario(rate=lam, window=180.0, warmup=5.0, service=d)
    runs = replicate(sc, R, seed=20240603)
    est, half = mean_ci(column(runs, "latency_mean"), confidence=0.999)
    assert half < rel * theory, "run too short to test anything"
    assert abs(est - theory) <= half, f"{est=} {theory=} {half=}"


# ---------------------------------------------------------------------------------------------
# Loss and retransmission

def test_lossy_link_adds_geometric_retransmissions():
    """With loss p and a timeout r doubling after each loss in a row, on zero-size messages,
    each direction adds r p/(1-2p) on average and a delivery takes 2/(1-p) messages."""
    p, rto, svc, lam = 0.1, 0.2, 0.010, 20.0
    retrans = 2 * analytic.retransmission_delay_mean(p, rto)  # 50 ms
    theory = 2 * LAT + svc + retrans
    theory_msgs = 2 * analytic.expected_copies(p)
    # 16 workers at 0.2 Erlang: no request ever waits for a worker (and retransmission delays
    # are i.i.d., so arrivals at the server stay Poisson), so requests are independent and
    # sigma2 is exact: per direction the delay is r (2^K - 1), K the copies lost (geometric),
    # with E[2^K] = (1-p)/(1-2p) and E[4^K] = (1-p)/(1-4p), so its variance is
    # r^2 (1.5 - 1.265625) = 0.009375 s^2 and the latency's 0.01875 s^2; messages per delivery
    # variance 2 p/(1-p)^2 = 0.25. n = 5 000 per replication, N = 100 000.
    # latency: half = 3.883 sqrt(0.01875 / 1e5) = 1.7 ms = 3.4 % of the 50 ms retransmission
    #          part -> REL 5 % of that part.
    # messages: half = 3.883 sqrt(0.25 / 1e5) = 0.0061 = 0.28 % of 2.22 -> REL 0.5 %.
    # Window edge: requests cut off at the end bias messages_per_delivery by about
    # + mean latency / window = +0.02 %, under 1/10 of its half width.
    # One connection delivers in order, so a lost message would hold up later ones on the same
    # connection (head-of-line blocking) and requests would no longer be independent. This
    # test is about the link: 100 clients each send every 100 / 20 = 5 s (periodic, random
    # phases), and a request outlives 5 s only after 5 losses in a row of one copy (timeouts
    # 0.2 + 0.4 + 0.8 + 1.6 + 3.2 s; p^5 = 1e-5, about one request in the whole test), so a
    # connection carries two requests at once too rarely to matter.
    rel_latency, rel_msgs = 0.05, 0.005
    net = {"latency": LAT, "bandwidth": "unlimited", "loss": p, "rto": rto}
    sc = scenario(rate=lam, window=250.0, warmup=2.0, service=svc, workers=16, network=net,
                  clients=100, arrival="periodic")
    runs = replicate(sc, R, seed=20240604)

    est, half = mean_ci(column(runs, "latency_mean"), confidence=0.999)
    assert half < rel_latency * retrans, "run too short to test anything"
    assert abs(est - theory) <= half, f"{est=} {theory=} {half=}"

    est, half = mean_ci(column(runs, "messages_per_delivery"), confidence=0.999)
    assert half < rel_msgs * theory_msgs, "run too short to test anything"
    assert abs(est - theory_msgs) <= half, f"{est=} {theory_msgs=} {half=}"


def test_closed_forms_agree_with_each_other():
    """The closed forms reduce to one another where they should and refuse unstable loads."""
    assert analytic.erlang_c(1, 0.7) == pytest.approx(0.7)  # one worker: P(wait) = rho
    assert analytic.mmc_mean_sojourn(70.0, MU, 1) == pytest.approx(
        analytic.mm1_mean_sojourn(70.0, MU))
    assert analytic.erlang_c(4, 3.0) == pytest.approx(0.50943, abs=1e-5)  # tables: 0.5094
    assert analytic.md1_mean_wait(70.0, 1 / MU) == pytest.approx(  # half the M/M/1 wait
        analytic.mm1_mean_wait(70.0, MU) / 2)
    assert analytic.mm1_sojourn_quantile(50.0, MU, 0.5) == pytest.approx(
        math.log(2) * analytic.mm1_mean_sojourn(50.0, MU))
    assert analytic.serialisation_time(1250, 1e6) == pytest.approx(0.010)
    assert analytic.serialisation_time(1250, math.inf) == 0.0
    assert analytic.short_poll_empty_ratio(2.0, 0.5) == pytest.approx(math.exp(-1.0))
    for unstable in (lambda: analytic.mm1_mean_sojourn(MU, MU),
                     lambda: analytic.mmc_mean_wait(400.0, MU, 4),
                     lambda: analytic.md1_mean_wait(100.0, 1 / MU)):
        with pytest.raises(ValueError, match="unstable"):
            unstable()
