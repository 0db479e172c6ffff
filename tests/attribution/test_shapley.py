"""Shapley attribution: hand cases, brute-force permutations, the sampler's stated error."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.population import JourneyPaths
from attribution.shapley import Characteristic, shapley_attribution

A, B, C = 11, 22, 33


def test_two_partner_example_by_hand() -> None:
    # v({A}) = 10, v({B}) = 0, v({A,B}) = 30:
    # phi_A = (10 - 0)/2 + (30 - 0)/2 = 20, phi_B = (0 - 0)/2 + (30 - 10)/2 = 10.
    paths = JourneyPaths.from_lists([[A], [A, B], [B]], [True, True, False], [10, 20, 0])
    result = shapley_attribution(paths)
    assert result.method == "exact"
    assert not result.approximate
    assert result.shapley_value == pytest.approx([20.0, 10.0])
    assert result.credited_value.tolist() == [20, 10]


def test_conversion_rate_uses_non_converting_journeys() -> None:
    # Journeys: {A} converts, {A} fails, {B} converts, {A,B} converts.
    # v(A) = 1/2, v(B) = 1, v(AB) = 3/4: phi_A = (1/2 + (3/4 - 1))/2 = 1/8,
    # phi_B = (1 + (3/4 - 1/2))/2 = 5/8.
    paths = JourneyPaths.from_lists(
        [[A], [A], [B], [A, B]], [True, False, True, True], [100, 0, 100, 100]
    )
    result = shapley_attribution(paths, characteristic="conversion_rate")
    assert result.shapley_value == pytest.approx([1 / 8, 5 / 8])
    assert result.share == pytest.approx([1 / 6, 5 / 6])
    assert result.credited_value.tolist() == [50, 250]


def test_negative_values_are_clipped_in_shares() -> None:
    # A's presence lowers the rate: {B} always converts, {A,B} never does.
    paths = JourneyPaths.from_lists([[B], [A, B], [A]], [True, False, False], [10, 0, 0])
    result = shapley_attribution(paths, characteristic="conversion_rate")
    assert result.shapley_value[0] < 0
    assert result.share.tolist() == [0.0, 1.0]
    assert result.credited_value.tolist() == [0, 10]


def test_empty_journeys_are_left_out() -> None:
    paths = JourneyPaths.from_lists([[A], [], [A, B]], [True, True, True], [10, 500, 20])
    result = shapley_attribution(paths)
    assert result.total_value == 30
    assert result.credited_value.tolist() == [20, 10]


@pytest.mark.parametrize("characteristic", ["value", "conversions"])
def test_auto_uses_the_exact_closed_form_above_the_subset_limit(
    characteristic: Characteristic,
) -> None:
    rng = np.random.default_rng(5)
    paths = _random_paths(rng, n_journeys=300, n_partners=40)
    auto = shapley_attribution(paths, characteristic=characteristic, max_exact_partners=15)
    assert auto.method == "closed_form"
    assert not auto.approximate
    assert int(auto.credited_value.sum()) == auto.total_value


def test_auto_samples_conversion_rate_above_the_limit_and_says_so() -> None:
    rng = np.random.default_rng(6)
    paths = _random_paths(rng, n_journeys=300, n_partners=20)
    result = shapley_attribution(
        paths, characteristic="conversion_rate", max_exact_partners=8, n_permutations=50, seed=1
    )
    assert result.method == "sampling"
    assert result.approximate
    assert result.stderr is not None
    assert result.n_permutations == 50
    again = shapley_attribution(
        paths, characteristic="conversion_rate", max_exact_partners=8, n_permutations=50, seed=1
    )
    assert again.shapley_value.tolist() == result.shapley_value.tolist()  # seeded


@pytest.mark.parametrize("characteristic", ["value", "conversions", "conversion_rate"])
def test_sampling_lands_within_its_stated_error(characteristic: Characteristic) -> None:
    rng = np.random.default_rng(7)
    paths = _random_paths(rng, n_journeys=200, n_partners=9)
    exact = shapley_attribution(paths, characteristic=characteristic, method="exact")
    sampled = shapley_attribution(
        paths, characteristic=characteristic, method="sampling", n_permutations=400, seed=2
    )
    assert sampled.stderr is not None
    error = np.abs(sampled.shapley_value - exact.shapley_value)
    assert bool((error <= 5 * sampled.stderr + 1e-12).all())
    # The sample values still add up to v(N) - v(empty) for every permutation.
    assert sampled.shapley_value.sum() == pytest.approx(exact.shapley_value.sum())


def test_closed_form_needs_an_additive_characteristic() -> None:
    paths = JourneyPaths.from_lists([[A]], [True], [1])
    with pytest.raises(ValueError, match="additive"):
        shapley_attribution(paths, characteristic="conversion_rate", method="closed_form")


# ------------------------------------------------------------ brute force check


def _coalition_value(
    sets: list[frozenset[int]],
    converted: list[bool],
    value: list[int],
    coalition: set[int],
    characteristic: str,
) -> float:
    inside = [j for j, s in enumerate(sets) if s <= coalition]
    if characteristic == "value":
        return float(sum(value[j] for j in inside if converted[j]))
    conversions = sum(1 for j in inside if converted[j])
    if characteristic == "conversions":
        return float(conversions)
    return conversions / len(inside) if inside else 0.0


def _brute_force(paths: JourneyPaths, characteristic: str) -> list[float]:
    sets = [
        frozenset(paths.partner_ids[paths.offsets[j] : paths.offsets[j + 1]].tolist())
        for j in range(len(paths))
    ]
    keep = [j for j, s in enumerate(sets) if s]
    sets = [sets[j] for j in keep]
    converted = [bool(paths.converted[j]) for j in keep]
    value = [int(paths.value[j]) for j in keep]
    players = sorted(set().union(*sets)) if sets else []
    totals = dict.fromkeys(players, 0.0)
    orders = list(permutations(players))
    for order in orders:
        coalition: set[int] = set()
        before = _coalition_value(sets, converted, value, coalition, characteristic)
        for player in order:
            coalition.add(player)
            after = _coalition_value(sets, converted, value, coalition, characteristic)
            totals[player] += after - before
            before = after
    return [totals[p] / len(orders) for p in players]


journey_lists = st.lists(
    st.tuples(
        st.lists(st.integers(1, 5), min_size=0, max_size=4), st.booleans(), st.integers(0, 100)
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(journey_lists, st.sampled_from(["value", "conversions", "conversion_rate"]))
def test_exact_matches_brute_force_permutations(
    journeys: list[tuple[list[int], bool, int]], characteristic: Characteristic
) -> None:
    paths = JourneyPaths.from_lists(
        [p for p, _, _ in journeys], [c for _, c, _ in journeys], [v for _, _, v in journeys]
    )
    result = shapley_attribution(paths, characteristic=characteristic, method="exact")
    assert result.shapley_value == pytest.approx(_brute_force(paths, characteristic), abs=1e-9)
    assert int(result.credited_value.sum()) == result.total_value
    if characteristic != "conversion_rate":
        closed = shapley_attribution(paths, characteristic=characteristic, method="closed_form")
        assert closed.shapley_value == pytest.approx(result.shapley_value, abs=1e-9)


def _random_paths(rng: np.random.Generator, n_journeys: int, n_partners: int) -> JourneyPaths:
    lengths = rng.integers(1, 5, n_journeys)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    # Skewed partner popularity, like real programs.
    partners = (rng.zipf(1.6, int(offsets[-1])) % n_partners + 100).astype(np.int64)
    converted = rng.random(n_journeys) < 0.3
    value = np.where(converted, rng.integers(100, 10_000, n_journeys), 0).astype(np.int64)
    return JourneyPaths(offsets, partners, converted, value)
