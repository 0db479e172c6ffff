"""Markov removal-effect attribution: hand-solved chains and a plain re-derivation."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.markov import TooManyStatesError, markov_attribution
from attribution.population import InvalidJourneysError, JourneyPaths

A, B, C = 11, 22, 33


def classic() -> JourneyPaths:
    """A>B>C converts (100), A fails, B>C converts (50), C>A fails."""
    return JourneyPaths.from_lists(
        [[A, B, C], [A], [B, C], [C, A]], [True, False, True, False], [100, 0, 50, 0]
    )


def test_classic_three_channel_example_solved_by_hand() -> None:
    # start -> A 1/2, B 1/4, C 1/4; A -> B 1/3, null 2/3; B -> C 1; C -> conv 2/3, A 1/3.
    # x_C = 2/3 + x_A/3, x_B = x_C, x_A = x_B/3  =>  x_C = 3/4, x_A = 1/4, P = 1/2.
    # Without A: x_C = 2/3, P = 1/3; without B: x_A = 0, P = 1/6; without C: P = 0.
    result = markov_attribution(classic())
    assert result.partner_ids.tolist() == [A, B, C]
    assert result.conversion_probability == pytest.approx(0.5)
    assert result.removal_effect == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert result.share == pytest.approx([1 / 6, 1 / 3, 1 / 2])
    assert result.credited_value.tolist() == [25, 50, 75]
    assert result.total_value == 150


def test_two_channel_example() -> None:
    # A>B converts, B fails, A converts. start -> A 2/3, B 1/3; A -> B 1/2, conv 1/2;
    # B -> conv 1/2, null 1/2. x_B = 1/2, x_A = 3/4, P = 2/3 * 3/4 + 1/3 * 1/2 = 2/3.
    # Without A: P = 1/3 * 1/2 = 1/6 (effect 3/4); without B: P = 2/3 * 1/2 = 1/3 (effect 1/2).
    paths = JourneyPaths.from_lists([[A, B], [B], [A]], [True, False, True], [60, 0, 40])
    result = markov_attribution(paths)
    assert result.conversion_probability == pytest.approx(2 / 3)
    assert result.removal_effect == pytest.approx([3 / 4, 1 / 2])
    assert result.share == pytest.approx([0.6, 0.4])
    assert result.credited_value.tolist() == [60, 40]


def test_non_converting_journeys_change_the_result() -> None:
    base = markov_attribution(classic())
    more = JourneyPaths.from_lists(
        [[A, B, C], [A], [B, C], [C, A], [B], [B]],
        [True, False, True, False, False, False],
        [100, 0, 50, 0, 0, 0],
    )
    changed = markov_attribution(more)
    assert changed.conversion_probability < base.conversion_probability  # B leads nowhere
    assert not np.allclose(changed.share, base.share)
    assert int(changed.credited_value.sum()) == 150


def test_empty_journeys_are_left_out() -> None:
    with_empty = JourneyPaths.from_lists(
        [[A, B, C], [], [A], [B, C], [], [C, A]],
        [True, True, False, True, False, False],
        [100, 999, 0, 50, 0, 0],
    )
    result = markov_attribution(with_empty)
    assert result.credited_value.tolist() == [25, 50, 75]
    assert result.total_value == 150


def test_self_loops_do_not_change_first_order_results() -> None:
    repeated = JourneyPaths.from_lists(
        [[A, A, B, C, C], [A, A], [B, B, C], [C, A]], [True, False, True, False], [100, 0, 50, 0]
    )
    assert markov_attribution(repeated).removal_effect == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_nothing_converts_gives_zero_credit() -> None:
    paths = JourneyPaths.from_lists([[A, B], [B]], [False, False], [0, 0])
    result = markov_attribution(paths)
    assert result.conversion_probability == 0.0
    assert result.share.tolist() == [0.0, 0.0]
    assert result.credited_value.tolist() == [0, 0]


def test_second_order_states_are_pairs_of_partners() -> None:
    result = markov_attribution(classic(), order=2)
    # States: (A), (A,B), (B,C), (B), (C), (C,A): six; the reference below checks the values.
    assert result.n_states == 6
    assert result.removal_effect == pytest.approx(_reference(classic(), order=2))
    assert int(result.credited_value.sum()) == 150


def test_state_bound_is_enforced() -> None:
    with pytest.raises(TooManyStatesError):
        markov_attribution(classic(), order=2, max_states=4)


@pytest.mark.parametrize(
    ("offsets", "partners", "converted", "value", "message"),
    [
        ([1, 2], [A, B], [True], [1], "start at 0"),
        ([0, 2, 1], [A, B], [True, True], [1, 1], "start at 0|non-decreasing"),
        ([0, 1], [A], [True, False], [1, 1], "one entry per journey"),
        ([0, 1], [A], [True], [-5], ">= 0"),
    ],
)
def test_invalid_journeys_are_refused(
    offsets: list[int], partners: list[int], converted: list[bool], value: list[int], message: str
) -> None:
    with pytest.raises(InvalidJourneysError, match=message):
        JourneyPaths(
            np.array(offsets, np.int64),
            np.array(partners, np.int64),
            np.array(converted, bool),
            np.array(value, np.int64),
        )


# ------------------------------------------------------------- plain re-derivation


def _reference(paths: JourneyPaths, order: int = 1) -> list[float]:
    """Removal effects by re-solving the chain with each partner's states deleted."""
    walks = []
    for j in range(len(paths)):
        steps = paths.partner_ids[paths.offsets[j] : paths.offsets[j + 1]].tolist()
        if not steps:
            continue
        states = [tuple(steps[max(0, i - order + 1) : i + 1]) for i in range(len(steps))]
        end = "conv" if paths.converted[j] else "null"
        walks.append(["start", *states, end])
    counts = Counter((a, b) for walk in walks for a, b in pairwise(walk))

    def p_conv(removed: int | None) -> float:
        transient = sorted({a for a, _ in counts if a == "start" or removed not in a}, key=str)
        index = {s: i for i, s in enumerate(transient)}
        q = np.zeros((len(transient), len(transient)))
        r = np.zeros(len(transient))
        for s in transient:
            out = {b: n for (a, b), n in counts.items() if a == s}
            total = sum(out.values())
            for b, n in out.items():
                if b == "conv":
                    r[index[s]] += n / total
                elif b != "null" and b in index:
                    q[index[s], index[b]] += n / total
        x = np.linalg.solve(np.eye(len(transient)) - q, r)
        return float(x[index["start"]])

    base = p_conv(None)
    partners = sorted(set(paths.partner_ids.tolist()))
    return [1 - p_conv(p) / base if base > 0 else 0.0 for p in partners]


journey_lists = st.lists(
    st.tuples(st.lists(st.integers(1, 5), min_size=1, max_size=5), st.booleans()),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(journey_lists, st.integers(1, 2))
def test_matches_a_plain_re_derivation(journeys: list[tuple[list[int], bool]], order: int) -> None:
    paths = JourneyPaths.from_lists(
        [p for p, _ in journeys], [c for _, c in journeys], [7 if c else 0 for _, c in journeys]
    )
    result = markov_attribution(paths, order=order)
    expected = _reference(paths, order)
    assert result.removal_effect == pytest.approx(np.clip(expected, 0, 1), abs=1e-9)
    assert int(result.credited_value.sum()) == result.total_value == 7 * sum(c for _, c in journeys)


def test_fractions_in_the_classic_example_are_exact_ratios() -> None:
    effects = markov_attribution(classic()).removal_effect
    assert [Fraction(e).limit_denominator(12) for e in effects] == [
        Fraction(1, 3),
        Fraction(2, 3),
        Fraction(1),
    ]
