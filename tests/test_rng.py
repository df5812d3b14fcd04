"""Random streams: buffered draws do not depend on how they are fetched."""

from __future__ import annotations

import numpy as np
import pytest

from simcomm.dists import from_spec
from simcomm.rng import BLOCK, FIRST, Buffered, Streams
from simcomm.units import parse_duration

DRAWS = {
    "random": lambda g, n: g.random(n),
    "exponential": lambda g, n: g.exponential(0.5, n),
    "uniform": lambda g, n: g.uniform(-1.0, 2.0, n),
    "lognormal": lambda g, n: g.lognormal(0.1, 0.7, n),
    "integers": lambda g, n: g.integers(0, 37, n),
    "choice": lambda g, n: g.choice(np.array([1.0, 2.0, 5.0]), n),
}


@pytest.mark.parametrize("name", list(DRAWS))
def test_growing_blocks_give_the_same_variates_as_one_big_draw(name):
    """Blocks of 16, 32 … 4096 draws give exactly the variates one call for all of them gives:
    a stream's numbers do not depend on the block schedule."""
    n = FIRST * 2 + BLOCK * 3 + 5
    buffered = Buffered(Streams(3).generator("s"), DRAWS[name])
    got = [buffered() for _ in range(n)]
    want = DRAWS[name](Streams(3).generator("s"), n).tolist()
    assert got == want


def test_truncnormal_samples_agree_with_one_big_draw():
    """The truncated normal (scipy, inverse CDF of uniforms) gives the variates one call for
    all of them gives, whatever the block sizes."""
    from scipy.stats import truncnorm

    spec = {"dist": "truncnormal", "mean": "10ms", "std": "5ms"}
    d = from_spec(spec, parse_duration, allow_zero=True)
    n = FIRST * 8 + 3
    sampler = d.sampler(Streams(8).generator("t"))
    got = [sampler() for _ in range(n)]
    a, b = (d.low - d.loc) / d.scale, (d.high - d.loc) / d.scale
    want = truncnorm.rvs(a, b, loc=d.loc, scale=d.scale, size=n,
                         random_state=Streams(8).generator("t"))
    assert np.allclose(got, want, rtol=0, atol=0)


def test_a_rarely_used_stream_holds_few_draws():
    """A stream drawn from once holds one small block, not 4,096 floats."""
    buffered = Buffered(Streams(1).generator("x"), DRAWS["exponential"])
    buffered()
    assert len(list(buffered._it)) == FIRST - 1


@pytest.mark.parametrize("name", list(DRAWS))
def test_a_parked_stream_draws_what_its_generator_draws(name):
    """Streams.stream(name) parks the generator between blocks (its state as integers) and
    restores it into a shared Generator for each: the variates are the generator's."""
    n = FIRST * 6 + 7
    parked = Buffered(Streams(5).stream("p"), DRAWS[name])
    want = Buffered(Streams(5).generator("p"), DRAWS[name])
    assert [parked() for _ in range(n)] == [want() for _ in range(n)]


def test_parked_streams_interleave_and_take_generator_calls():
    """Two parked streams drawn in turn, after a direct Generator call on one (a phase drawn
    once, first): each continues its own sequence exactly."""
    streams, ref = Streams(9), Streams(9)
    a, b = streams.stream("a"), streams.stream("b")
    ga, gb = ref.generator("a"), ref.generator("b")
    assert a.uniform(0.0, 2.0) == ga.uniform(0.0, 2.0)
    da = Buffered(a, DRAWS["exponential"])
    db = Buffered(b, DRAWS["lognormal"])
    wa = Buffered(ga, DRAWS["exponential"])
    wb = Buffered(gb, DRAWS["lognormal"])
    for _ in range(3 * FIRST + 1):
        assert da() == wa() and db() == wb()
    # (a direct call after buffered draws reads past the blocks fetched so far, which depend
    # on the block schedule: parked streams start at 2 draws, others at 16)


def test_a_parked_stream_holds_its_block_compactly():
    """Idle, a buffered parked stream is one object holding one integer and what is left of
    its block as 8-byte floats, nothing once the block is used up; the parked stream it took
    over refuses direct draws."""
    from array import array

    from simcomm.rng import ParkedBuffered

    parked = Streams(1).stream("x")
    s = Buffered(parked, DRAWS["exponential"])
    assert isinstance(s, ParkedBuffered)
    s()  # a block of one: nothing held
    assert isinstance(s._state, int) and s._block is None
    s()  # a block of two: one left
    assert isinstance(s._block, array) and len(s._block) == 1
    s()
    assert s._block is None
    with pytest.raises(RuntimeError, match="taken over"):
        parked.uniform(0.0, 1.0)


def test_a_direct_draw_after_the_buffered_is_made_but_before_its_first_block_counts():
    """short_polling makes its jitter Buffered, then draws its phase directly from the same
    parked stream, then buffers: the draws are the generator's in that order."""
    parked, ref = Streams(4).stream("j"), Streams(4).generator("j")
    buffered = Buffered(parked, DRAWS["uniform"])
    assert parked.uniform(0.0, 1.0) == ref.uniform(0.0, 1.0)
    want = Buffered(ref, DRAWS["uniform"])
    assert [buffered() for _ in range(40)] == [want() for _ in range(40)]


def test_a_parked_stream_feeds_one_buffered():
    parked = Streams(1).stream("x")
    Buffered(parked, DRAWS["random"])
    with pytest.raises(RuntimeError, match="feeds one Buffered"):
        Buffered(parked, DRAWS["random"])
