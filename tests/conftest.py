"""Shared fixtures and the Hypothesis profile for the simcomm tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# "ci": no per-example deadline (a 2-core CI box stalls now and then, and a slow example is not a
# failure), derandomized so every run tries the same examples (a red test stays red until fixed),
# and 25 examples per property to keep the suite fast. HYPOTHESIS_PROFILE picks another one.
settings.register_profile("ci", deadline=None, derandomize=True, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def tiny_scenario() -> dict:
    """A small scenario that runs in well under a second (a fresh dict per test: mutate freely).

    Open loop at 20/s total from 2 sync clients to one worker; ρ = 20/s × ~5 ms ≈ 0.1.
    """
    return {
        "name": "tiny",
        "duration": "5s",
        "warmup": "1s",
        "seed": 1,
        "network": {"latency": "5ms", "bandwidth": "100Mbps"},
        "server": {"workers": 1, "service_time": {"dist": "exponential", "mean": "5ms"}},
        "clients": {"count": 2},
        "workload": {
            "requests": {"rate": "20/s", "arrival": "poisson"},
            "request_size": "256B",
            "response_size": "1KiB",
            "encoding": "json",
        },
        "pattern": {"name": "request_response", "client": "sync"},
    }
