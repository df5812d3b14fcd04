"""Common random numbers across worlds: adding a client leaves the other clients' draws alone.

README: every component draws from its own named stream, per client where the randomness is
per client. In a world where clients do not meet (a link each, many workers, constant service
and latency), client i's deliveries must then be the same whether the world has 3 clients or 4.
"""

from __future__ import annotations

import pandas as pd
import pytest

import simcomm

PATTERNS = [
    {"name": "request_response", "client": "async", "concurrency": 4},
    {"name": "job_polling", "interval": "300ms", "jitter": "100ms",
     "job_duration": {"dist": "exponential", "mean": "2s"}},
    {"name": "short_polling", "interval": "500ms", "jitter": "200ms"},
    {"name": "long_polling", "timeout": "3s"},
    {"name": "push", "prefetch": 2},
    {"name": "sse", "retry": "1s", "backoff": "exponential", "heartbeat": "2s"},
    {"name": "pubsub", "consumer": "pull", "max_wait": "500ms",
     "delivery": "at_least_once", "ack_timeout": "1s", "ack_loss": 0.2},
]


def world(pattern: dict, clients: int) -> dict:
    return {
        "duration": "60s", "warmup": "5s", "seed": 21,
        "network": {"latency": "5ms", "bandwidth": "unlimited", "topology": "per_client"},
        "server": {"workers": 64, "service_time": "2ms"},
        "clients": {"count": clients, "session": {"dist": "exponential", "mean": "15s"},
                    "gap": {"dist": "exponential", "mean": "3s"}},
        "workload": {"requests": {"think_time": {"dist": "exponential", "mean": "500ms"}},
                     "updates": {"rate": "2/s", "scope": "per_client"},
                     "request_size": {"dist": "uniform", "low": "100B", "high": "2KiB"}},
        "pattern": pattern,
    }


def per_client(pattern: dict, clients: int) -> pd.DataFrame:
    d = simcomm.run(world(pattern, clients)).frames["deliveries"]
    d = d[d.client < 3][["client", "t_start", "latency"]]
    return d.sort_values(["client", "t_start", "latency"]).reset_index(drop=True)


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p["name"])
def test_adding_a_client_leaves_the_other_clients_alone(pattern):
    """Clients 0–2 see exactly the same deliveries with a fourth client in the world."""
    three, four = per_client(pattern, 3), per_client(pattern, 4)
    assert len(three) > 30
    pd.testing.assert_frame_equal(three, four, check_exact=True)
