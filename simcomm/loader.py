"""Loading a scenario: validate the schema, then resolve its pattern entries.

:mod:`simcomm.scenario` is the schema alone; the pattern registry is consulted here, so the
schema and the patterns never import each other.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ._suggest import did_you_mean
from .fields import ScenarioError, check_label
from .patterns import PATTERNS
from .scenario import (
    BalancerCfg,
    ConnectionCfg,
    Headers,
    PatternSpec,
    ProxyCfg,
    ResilienceCfg,
    Scenario,
    SidecarCfg,
    StateCfg,
    _raise,
    apply_overrides,
    read_yaml,
)

__all__ = ["load", "load_file"]


def _pattern_specs(sc: Scenario) -> tuple[PatternSpec, ...]:
    entries = [("pattern", sc.pattern)] if sc.pattern is not None else [
        (f"patterns.{i}", p) for i, p in enumerate(sc.patterns or [])]
    specs = []
    labels: set[str] = set()
    for where, raw in entries:
        if not isinstance(raw, dict):
            raise ScenarioError(where, "must be a mapping with a name, e.g. "
                                "{name: request_response}")
        raw = dict(raw)
        name = raw.pop("name", None)
        label = raw.pop("label", None)
        own_headers = raw.pop("headers", None)
        own_connection = raw.pop("connection", None)
        own = {k: raw.pop(k, None)
               for k in ("proxy", "balancer", "resilience", "sidecar", "state")}
        if name is None:
            raise ScenarioError(f"{where}.name", "missing; known patterns: "
                                + ", ".join(sorted(PATTERNS)))
        if not isinstance(name, str) or name not in PATTERNS:
            raise ScenarioError(f"{where}.name", f"unknown pattern {name!r}"
                                f"{did_you_mean(name, PATTERNS)} (known: "
                                f"{', '.join(sorted(PATTERNS))})")
        cls = PATTERNS[name]
        try:
            params = cls.Params.model_validate(raw)
        except ValidationError as e:
            _raise(e, cls.Params, where)
        try:
            cls.check(params, sc)
        except ScenarioError as e:
            raise ScenarioError(f"{where}.{e.field}" if e.field else where, e.message) from None
        if label is None:
            label = cls.default_label(params)
        else:
            try:
                label = check_label(label)
            except ValueError as e:
                raise ScenarioError(f"{where}.label", str(e)) from None
        if label in labels:
            raise ScenarioError(f"{where}.label", f"{label!r} names two entries; give each "
                                "a distinct label")
        labels.add(label)
        sections = {name: _section(sc, own[name], where, name, cfg, example)
                    for name, cfg, example in (("proxy", ProxyCfg, "{pool: 8}"),
                                               ("balancer", BalancerCfg, "{policy: random}"),
                                               ("resilience", ResilienceCfg, "{retries: 2}"),
                                               ("sidecar", SidecarCfg, "{cpu: 50us}"),
                                               ("state", StateCfg, "{mode: stateless}"))}
        balancer = sections["balancer"]
        sessions = cls.sessions
        if sections["state"] is not None and not sessions:
            raise ScenarioError(f"{where}.state" if own["state"] is not None else "state",
                                f"sessions belong to the workflow pattern; {name} has none "
                                "(give state: false in this entry)")
        if balancer is not None and balancer.policy == "sticky" and not sessions:
            raise ScenarioError(f"{where}.balancer.policy" if own["balancer"] is not None
                                else "balancer.policy", f"sticky routes by session and {name} "
                                "has no sessions (the workflow pattern has): use "
                                "consistent_hash to keep each client on one instance")
        if sections["resilience"] is not None and name != "request_response":
            raise ScenarioError(f"{where}.resilience" if own["resilience"] is not None
                                else "resilience", "timeouts, retries, a breaker and a cache "
                                f"wrap request_response exchanges; {name} does not use them "
                                "(give resilience: false in this entry)")
        if (sc.server.instances > 1 or balancer is not None) and not cls.instances:
            able = ", ".join(sorted(n for n, c in PATTERNS.items() if c.instances))
            field, what = (("server.instances", f"{sc.server.instances} instances behind a "
                            "balancer") if sc.server.instances > 1 else
                           (f"{where}.balancer" if own["balancer"] is not None else "balancer",
                            "a load balancer"))
            raise ScenarioError(field, f"{what} works with {able}; {name} streams (the "
                                "instance holding each stream) are not modelled behind a "
                                "balancer yet")
        specs.append(PatternSpec(name, label, params, _headers(sc, own_headers, where),
                                 _connection(sc, own_connection, where),
                                 **sections))
    return tuple(specs)


def _headers(sc: Scenario, own, where: str) -> Headers:
    """The headers of one entry: the scenario's, with the entry's ``headers:`` on top."""
    if own is None:
        return sc.headers
    if not isinstance(own, dict):
        raise ScenarioError(f"{where}.headers", "must be a mapping of message kinds to sizes, "
                            "e.g. {request: 200B}")
    try:
        return Headers.model_validate({**sc.headers.model_dump(), **own})
    except ValidationError as e:
        _raise(e, Headers, f"{where}.headers")


def _connection(sc: Scenario, own, where: str) -> ConnectionCfg:
    """The connection of one entry: the scenario's ``connection:``, with the entry's own on
    top (``patterns: [{name: request_response, connection: {protocol: h3}}, …]``)."""
    if own is None:
        return sc.connection
    if not isinstance(own, dict):
        raise ScenarioError(f"{where}.connection", "must be a mapping, e.g. {protocol: h2}")
    base = sc.connection.model_dump(include=sc.connection.model_fields_set)
    try:
        return ConnectionCfg.model_validate({**base, **own})
    except ValidationError as e:
        _raise(e, ConnectionCfg, f"{where}.connection")


def _section(sc: Scenario, own, where: str, name: str, cfg: type, example: str):
    """An optional section of one entry (``proxy``, ``balancer``, ``resilience``,
    ``sidecar``): the scenario's, the entry's own keys on top of it, or none (``false`` in the
    entry removes the scenario's)."""
    base = getattr(sc, name)
    if own is None:
        return base
    if own is False:
        return None
    if not isinstance(own, dict):
        raise ScenarioError(f"{where}.{name}", f"must be a mapping, e.g. {example}, or false "
                            f"for no {name}")
    try:
        mine = cfg.model_validate(own)
    except ValidationError as e:
        _raise(e, cfg, f"{where}.{name}")
    if base is None:
        return mine
    # the entry's keys on top of the scenario's (validated values, distributions kept)
    return base.model_copy(update={k: getattr(mine, k) for k in mine.model_fields_set})


def load(raw: dict | Scenario, *, base_dir: Path | None = None) -> Scenario:
    """Validate a scenario given as a dict (the YAML structure). Raises :class:`ScenarioError`."""
    if isinstance(raw, Scenario):
        return raw
    if not isinstance(raw, dict):
        raise ScenarioError("", f"a scenario is a mapping of keys to values, got "
                            f"{type(raw).__name__}")
    try:
        sc = Scenario.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as e:
        _raise(e, Scenario)
    sc._variants = _pattern_specs(sc)
    return sc


def load_file(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
              seed: int | None = None) -> Scenario:
    """Read, override (``path.to.key=value``) and validate a YAML scenario file."""
    raw = apply_overrides(read_yaml(path), overrides)
    if seed is not None:
        raw["seed"] = seed
    return load(raw, base_dir=Path(path).resolve().parent)
