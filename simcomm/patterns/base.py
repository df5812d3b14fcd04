"""Pattern strategies and their registry.

A pattern is a small strategy object: built from its own validated parameters (a pydantic model
``Params`` with ``extra="forbid"``, so a typo is an error that names the key), registered by
name, it installs client and server processes on a :class:`~simcomm.world.World` using the
world's components. A pattern never re-implements a link, a queue or a metric.

To add one::

    @register("my_pattern")
    class MyPattern(Pattern):
        \"\"\"One line shown by `simcomm patterns`.\"\"\"
        class Params(PatternParams):
            interval: PosDuration = 1.0
        def install(self, world): ...
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["PATTERNS", "Pattern", "PatternParams", "register"]


class PatternParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Pattern:
    name: ClassVar[str]
    Params: ClassVar[type[PatternParams]] = PatternParams
    instances: ClassVar[bool] = False
    """Runs on several server instances behind a balancer (``server.instances`` > 1): every
    piece of server work follows a request the balancer routed. Streams the server writes to
    unasked (push, SSE, pub/sub) would need the instance holding each stream: not yet."""
    sessions: ClassVar[bool] = False
    """Its requests carry sessions (``state:``, a ``sticky`` balancer apply)."""

    def __init__(self, params: PatternParams) -> None:
        self.p = params

    @classmethod
    def check(cls, params: Any, scenario: Any) -> None:
        """Cross-check *params* against the scenario; raise ``ScenarioError(field, why)``."""

    @classmethod
    def default_label(cls, params: PatternParams) -> str:
        """Row name when the entry has no ``label``: the name plus the parameters given."""
        given = {k: getattr(params, k) for k in sorted(params.model_fields_set)}
        if not given:
            return cls.name
        return cls.name + "[" + ",".join(f"{k}={v}" for k, v in given.items()) + "]"

    @classmethod
    def describe(cls) -> str:
        first = (cls.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(first.split())

    def requests_per_arrival(self) -> float:
        """Server requests caused by one workload arrival (for the ρ ≥ 1 warning)."""
        return 1.0

    def install(self, world) -> None:  # pragma: no cover - interface
        raise NotImplementedError


PATTERNS: dict[str, type[Pattern]] = {}


def register(name: str):
    """Class decorator: make the pattern available as ``name`` in scenarios and the CLI."""

    def deco(cls: type[Pattern]) -> type[Pattern]:
        if name in PATTERNS:
            raise ValueError(f"pattern name {name!r} is already registered")
        cls.name = name
        PATTERNS[name] = cls
        return cls

    return deco
