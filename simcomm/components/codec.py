"""Payload encodings: how big a payload is on the wire and what it costs to (de)serialise.

Scenario sizes (``request_size``, ``response_size``) are the size of the data **encoded as
JSON**, the reference (size factor 1.0). Another encoding multiplies that by its
``size_factor``; parsing and serialising cost CPU time per KiB *of encoded bytes*.

The defaults are round, order-of-magnitude figures, not measurements of one library; override
them under ``encodings:`` in a scenario when you know your stack.

========  ===========  ===========  ==============  ===============================================
encoding  size_factor  parse/KiB    serialise/KiB   where the figures come from
========  ===========  ===========  ==============  ===============================================
json      1.0          10 µs        6 µs            conventional (non-SIMD) JSON parsers run at
                                                    ~0.1–0.5 GB/s (simdjson paper, Langdale &
                                                    Lemire 2019, Table 7 baselines): ~100 MB/s
                                                    taken for a typical service stack
xml       1.6          25 µs        12 µs           XML repeats element names in closing tags
                                                    (≈1.3–2× JSON); DOM parsers are 2–3× slower
                                                    than JSON parsers in the same benchmarks
protobuf  0.5          2 µs         1.5 µs          varint numbers, field numbers instead of
                                                    names; protobuf docs: "smaller and faster"
                                                    than XML (3–10× smaller, 20–100× faster)
none      1.0          0            0               no encoding cost (theory checks, raw bytes)
========  ===========  ===========  ==============  ===============================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_ENCODINGS", "Encoding"]


@dataclass(frozen=True)
class Encoding:
    name: str
    size_factor: float
    """Encoded bytes per byte of JSON-sized data."""
    parse_per_kib: float
    """Seconds of CPU to parse one KiB of encoded bytes."""
    serialise_per_kib: float
    """Seconds of CPU to serialise one KiB of encoded bytes."""

    def wire(self, size: float) -> float:
        """Encoded size in bytes of *size* bytes of JSON-sized data (not rounded: sizes are
        kept as given, fractions of a byte included, so that averages stay exact)."""
        return size * self.size_factor

    def parse_cost(self, wire_bytes: int) -> float:
        return wire_bytes * self.parse_per_kib / 1024.0

    def serialise_cost(self, wire_bytes: int) -> float:
        return wire_bytes * self.serialise_per_kib / 1024.0


DEFAULT_ENCODINGS: dict[str, Encoding] = {
    "json": Encoding("json", 1.0, 10e-6, 6e-6),
    "xml": Encoding("xml", 1.6, 25e-6, 12e-6),
    "protobuf": Encoding("protobuf", 0.5, 2e-6, 1.5e-6),
    "none": Encoding("none", 1.0, 0.0, 0.0),
}
