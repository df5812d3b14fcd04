"""Closed forms that simcomm's simulations are checked against.

Each function is one textbook formula in SI units (seconds, bytes, bits per second, events per
second). They hold in *steady state* for the idealised models named below, so a simulated
scenario only matches them when it is built to be that model (Poisson arrivals, FIFO server,
no payload encoding costs, headers of 0 bytes, …); see ``tests/validation``.

Notation: λ (``lam``) arrival rate, μ (``mu``) service rate of one worker, c workers,
ρ = λ/(cμ) the utilisation. Every queue formula needs ρ < 1 and raises :class:`ValueError`
otherwise (the queue then grows without bound and has no steady state).

**M/M/1** (Poisson arrivals, exponential service, one FIFO worker). The sojourn time (queue +
service) is exponential with rate μ − λ, so

* mean sojourn W = 1/(μ − λ)  (:func:`mm1_mean_sojourn`),
* q-quantile of the sojourn −ln(1 − q)/(μ − λ)  (:func:`mm1_sojourn_quantile`).

Source: L. Kleinrock, *Queueing Systems, Vol. 1: Theory* (Wiley, 1975), ch. 3 (M/M/1) and
ch. 5 (the FCFS M/M/1 sojourn-time distribution as a special case of M/G/1).

**M/M/c** (c identical workers, one shared FIFO queue). With offered load a = λ/μ (in Erlangs)
the probability that an arrival has to wait is Erlang's C formula

    C(c, a) = [aᶜ/c! · c/(c − a)] / [Σ_{k<c} aᵏ/k! + aᶜ/c! · c/(c − a)]

(:func:`erlang_c`, computed through the numerically stable Erlang B recursion
B(0) = 1, B(k) = a·B(k−1)/(k + a·B(k−1)), C = c·B/(c − a·(1 − B))), and the mean wait in the
queue is Wq = C(c, a)/(cμ − λ)  (:func:`mmc_mean_wait`); the mean sojourn adds 1/μ.
Source: Kleinrock (1975), ch. 3 (M/M/m); M. Harchol-Balter, *Performance Modeling and Design of
Computer Systems* (Cambridge, 2013), the M/M/k chapter.

**M/D/1** (constant service time d). The Pollaczek–Khinchine mean-value formula for M/G/1,
Wq = λ·E[S²]/(2(1 − ρ)), with E[S²] = d² gives Wq = ρ·d/(2(1 − ρ)), ρ = λd
(:func:`md1_mean_wait`): half the M/M/1 wait at the same load.
Source: Kleinrock (1975), ch. 5 (M/G/1).

**Serialisation** of B bytes on a link of C bit/s takes 8B/C seconds
(:func:`serialisation_time`; 0 on an unlimited link). Source: the "transmission delay" L/R of
J. Kurose and K. Ross, *Computer Networking: A Top-Down Approach*, ch. 1.

**Loss with retransmission** (simcomm's link model, :mod:`simcomm.components.link`, for a
one-segment message with nothing sent behind it, so every loss waits for the timeout; see
:mod:`simcomm.components.window` for fast retransmit): each copy is lost independently with
probability p and resent after a timeout that starts at ``rto`` and doubles with each copy
lost in a row. The number of copies is geometric, with mean 1/(1 − p)
(:func:`expected_copies`), and a message that needs k extra copies is late by
k·tx + rto·(2^k − 1), so the mean extra delay is tx·p/(1 − p) + rto·p/(1 − 2p)
(:func:`retransmission_delay_mean`).

**Round-robin over N instances** (a Poisson stream of rate λ dealt to N exponential-service
instances in turn). Each instance sees every N-th arrival: Erlang-N gaps (N stages of rate λ,
mean N/λ), so it is an E_N/M/1 queue, a GI/M/1 queue. With A*(s) = (λ/(λ + s))^N the Laplace
transform of the gap, the GI/M/1 root σ ∈ (0, 1) solves σ = A*(μ(1 − σ)), and the sojourn is
exponential with rate μ(1 − σ): W = 1/(μ(1 − σ))  (:func:`erlang_m1_root`,
:func:`round_robin_mean_sojourn`; N = 1 gives σ = ρ, the M/M/1). Random routing instead thins
the stream into N independent Poisson streams of rate λ/N: N independent M/M/1 queues.
Source: Kleinrock (1975), ch. 6 (the G/M/m queue, σ and its waiting time); Harchol-Balter
(2013), the chapter on task assignment policies for server farms.

**Polling** against Poisson updates at rate λ (a Poisson process has no event in an interval of
length t with probability e^(−λt)):

* short polling every T seconds: P(empty poll) = e^(−λT)  (:func:`short_poll_empty_ratio`),
  and an update waits T/2 on average for the next poll  (:func:`short_poll_mean_wait`);
* long polling with hold time H and zero round trip: P(empty answer) = e^(−λH)
  (:func:`long_poll_empty_ratio`).
"""

from __future__ import annotations

import math

__all__ = [
    "batch_mean_pending",
    "erlang_c",
    "erlang_m1_root",
    "expected_copies",
    "long_poll_empty_ratio",
    "long_poll_messages_per_delivery",
    "md1_mean_sojourn",
    "md1_mean_wait",
    "mm1_mean_sojourn",
    "mm1_mean_wait",
    "mm1_sojourn_quantile",
    "mmc_mean_sojourn",
    "mmc_mean_wait",
    "retransmission_delay_mean",
    "round_robin_mean_sojourn",
    "serialisation_time",
    "short_poll_empty_ratio",
    "short_poll_mean_wait",
    "short_poll_messages_per_delivery",
]


def _check_rates(lam: float, mu: float) -> None:
    if not lam >= 0:
        raise ValueError(f"arrival rate must be >= 0, got {lam!r}")
    if not mu > 0:
        raise ValueError(f"service rate must be > 0, got {mu!r}")


def _check_stable(rho: float) -> None:
    if not rho < 1:
        raise ValueError(f"unstable load: utilisation rho = {rho:g} >= 1 has no steady state")


# ---------------------------------------------------------------------------------------------
# M/M/1

def mm1_mean_sojourn(lam: float, mu: float) -> float:
    """Mean time in an M/M/1 system (queue + service): W = 1/(μ − λ)."""
    _check_rates(lam, mu)
    _check_stable(lam / mu)
    return 1.0 / (mu - lam)


def mm1_mean_wait(lam: float, mu: float) -> float:
    """Mean time an M/M/1 customer waits before service: Wq = ρ/(μ − λ)."""
    return (lam / mu) * mm1_mean_sojourn(lam, mu)


def mm1_sojourn_quantile(lam: float, mu: float, q: float) -> float:
    """The *q*-quantile of the M/M/1 (FIFO) sojourn time, which is Exp(μ − λ):
    −ln(1 − q)/(μ − λ)."""
    if not 0 <= q < 1:
        raise ValueError(f"quantile level must be in [0, 1), got {q!r}")
    return -math.log1p(-q) * mm1_mean_sojourn(lam, mu)


# ---------------------------------------------------------------------------------------------
# E_N/M/1: round robin over N instances

def erlang_m1_root(n: int, lam: float, mu: float) -> float:
    """The GI/M/1 root σ of an E_n/M/1 queue — gaps of n exponential stages of rate *lam*
    (mean n/λ), service rate *mu* — solving σ = (λ/(λ + μ(1 − σ)))ⁿ in (0, 1) by bisection."""
    if n < 1:
        raise ValueError(f"need at least one stage, got {n!r}")
    _check_rates(lam, mu)
    _check_stable(lam / (n * mu))
    # f(σ) = A*(μ(1 − σ)) − σ is > 0 at 0 and < 0 just below 1 when ρ < 1 (f(1) = 0 is the
    # trivial root; f'(1) = ρ⁻¹ − 1 > 0 there)
    lo, hi = 0.0, 1.0 - 1e-15
    hi_v = (lam / (lam + mu * (1.0 - hi))) ** n - hi
    while hi_v >= 0.0:  # step back from the trivial root at 1
        hi = 1.0 - 2.0 * (1.0 - hi)
        hi_v = (lam / (lam + mu * (1.0 - hi))) ** n - hi
    for _ in range(200):
        mid = (lo + hi) / 2
        if (lam / (lam + mu * (1.0 - mid))) ** n - mid > 0.0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def round_robin_mean_sojourn(lam: float, mu: float, n: int) -> float:
    """Mean sojourn at an instance when a Poisson stream of rate *lam* is dealt round-robin
    to *n* exponential (rate *mu*) single-worker instances: E_n/M/1, W = 1/(μ(1 − σ))."""
    return 1.0 / (mu * (1.0 - erlang_m1_root(n, lam, mu)))


# ---------------------------------------------------------------------------------------------
# M/M/c

def erlang_c(c: int, a: float) -> float:
    """Erlang C: the probability that an M/M/*c* arrival waits, at offered load *a* = λ/μ
    Erlangs (needs a < c)."""
    if int(c) != c or c < 1:
        raise ValueError(f"number of workers must be a positive integer, got {c!r}")
    if not a >= 0:
        raise ValueError(f"offered load must be >= 0, got {a!r}")
    _check_stable(a / c)
    b = 1.0  # Erlang B with 0 servers
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1.0 - b))


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean wait before service in an M/M/*c* queue: Wq = C(c, λ/μ)/(cμ − λ)."""
    _check_rates(lam, mu)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_mean_sojourn(lam: float, mu: float, c: int) -> float:
    """Mean time in an M/M/*c* system: Wq + 1/μ."""
    return mmc_mean_wait(lam, mu, c) + 1.0 / mu


# ---------------------------------------------------------------------------------------------
# M/D/1

def md1_mean_wait(lam: float, d: float) -> float:
    """Mean wait before service in an M/D/1 queue with constant service time *d*
    (Pollaczek–Khinchine): Wq = ρ·d/(2(1 − ρ)), ρ = λd."""
    if not d > 0:
        raise ValueError(f"service time must be > 0, got {d!r}")
    _check_rates(lam, 1.0 / d)
    rho = lam * d
    _check_stable(rho)
    return rho * d / (2.0 * (1.0 - rho))


def md1_mean_sojourn(lam: float, d: float) -> float:
    """Mean time in an M/D/1 system: Wq + d."""
    return md1_mean_wait(lam, d) + d


# ---------------------------------------------------------------------------------------------
# Links

def serialisation_time(size_bytes: float, bandwidth_bps: float) -> float:
    """Seconds to put *size_bytes* on a link of *bandwidth_bps* bit/s: 8B/C (0 if unlimited)."""
    if not size_bytes >= 0:
        raise ValueError(f"size must be >= 0 bytes, got {size_bytes!r}")
    if not bandwidth_bps > 0:
        raise ValueError(f"bandwidth must be > 0 bit/s, got {bandwidth_bps!r}")
    if math.isinf(bandwidth_bps):
        return 0.0
    return 8.0 * size_bytes / bandwidth_bps


def expected_copies(loss: float) -> float:
    """Mean number of copies sent until one arrives, each lost with probability *loss*:
    1/(1 − p)."""
    if not 0 <= loss < 1:
        raise ValueError(f"loss probability must be in [0, 1), got {loss!r}")
    return 1.0 / (1.0 - loss)


def retransmission_delay_mean(loss: float, rto: float, tx: float = 0.0) -> float:
    """Mean delay a one-segment message loses to retransmissions when every loss waits for
    the timeout, and the timeout doubles after each one that fired (RFC 6298 §5.5): a message
    that needs k extra copies is late by k·tx + rto·(2^k − 1), so the mean is
    tx·p/(1 − p) + rto·p/(1 − 2p), for p < ½ (*tx*: its serialisation time, no queueing
    behind other messages assumed; the cap of the backoff at 64× is ignored: it matters after
    6 losses in a row)."""
    if not rto >= 0 or not tx >= 0:
        raise ValueError(f"rto and tx must be >= 0, got {rto!r} and {tx!r}")
    if not 0 <= loss < 0.5:
        raise ValueError(f"loss must be in [0, 0.5) for a finite mean with backoff, got {loss!r}")
    return tx * (expected_copies(loss) - 1.0) + rto * loss / (1.0 - 2.0 * loss)


# ---------------------------------------------------------------------------------------------
# Polling against Poisson updates

def short_poll_empty_ratio(lam: float, period: float) -> float:
    """Fraction of short polls (every *period* s) that find no update: e^(−λT)."""
    if not lam >= 0 or not period >= 0:
        raise ValueError(f"rate and period must be >= 0, got {lam!r} and {period!r}")
    return math.exp(-lam * period)


def short_poll_mean_wait(period: float) -> float:
    """Mean time an update waits for the next short poll: T/2."""
    if not period >= 0:
        raise ValueError(f"period must be >= 0, got {period!r}")
    return period / 2.0


def long_poll_empty_ratio(lam: float, hold: float) -> float:
    """Fraction of long polls (hold *hold* s, zero round trip) that time out empty:
    e^(−λH)."""
    return short_poll_empty_ratio(lam, hold)


# ---------------------------------------------------------------------------------------------
# Update delivery: polling costs and batched fetches (appended; see tests/validation/
# test_notification.py)

def short_poll_messages_per_delivery(lam: float, period: float) -> float:
    """Messages per delivered update when a client polls every *period* s (one request and one
    response per poll) for Poisson updates at rate *lam*: 2/(λT)."""
    if not lam > 0 or not period > 0:
        raise ValueError(f"rate and period must be > 0, got {lam!r} and {period!r}")
    return 2.0 / (lam * period)


def long_poll_messages_per_delivery(lam: float, timeout: float, latency: float = 0.0,
                                    check: float = 0.0) -> float:
    """Messages per delivered update of long polling (re-poll at once, timeout *timeout*
    counted from the poll's arrival) for Poisson updates at rate *lam*, with constant one-way
    *latency* d and a constant *check* time s before a poll is parked.

    Between two answers a poll makes a cycle that starts at an answer's snapshot: updates that
    come in the gap r = 2d + s before the next poll is parked are answered at once; otherwise
    the poll waits for the first update, or answers empty when none has come within τ + 2d of
    the snapshot. The cycle carries λ·E[cycle] updates on average (every update is delivered),
    λ·E[cycle] = λr + e^(−λr) − e^(−λ(τ + 2d)), and costs two messages, so

        messages per delivery = 2 / (λr + e^(−λr) − e^(−λ(τ + 2d))),

    which is 2/(1 − e^(−λτ)) for a zero round trip. (Renewal-reward; the snapshots are
    renewal points because Poisson arrivals are memoryless.)"""
    if not lam > 0 or not timeout > 0:
        raise ValueError(f"rate and timeout must be > 0, got {lam!r} and {timeout!r}")
    if not latency >= 0 or not check >= 0:
        raise ValueError(f"latency and check must be >= 0, got {latency!r} and {check!r}")
    if not check <= timeout:
        raise ValueError(f"check time {check!r} exceeds the timeout {timeout!r}")
    gap = lam * (2.0 * latency + check)
    return 2.0 / (gap + math.exp(-gap) - math.exp(-lam * (timeout + 2.0 * latency)))


def batch_mean_pending(lam: float, k: int) -> float:
    """Mean time an update waits on the server when Poisson updates at rate *lam* are sent in
    batches of exactly *k* (a fetch answered once k updates are pending): the i-th of a batch
    waits for the k − i arrivals after it, (k − i)/λ on average, so the mean is (k − 1)/(2λ)."""
    if not lam > 0:
        raise ValueError(f"rate must be > 0, got {lam!r}")
    if int(k) != k or k < 1:
        raise ValueError(f"batch size must be a positive integer, got {k!r}")
    return (k - 1) / (2.0 * lam)
