"""How learnt weights move: bounded steps down, a slower return, a floor, a tolerance, a
minimum sample, a lone provider held to perfect delivery."""

from __future__ import annotations

from router.config import QualitySettings
from router.engine.weights import next_weights
from router.store import DeliveryFigures

S = QualitySettings(min_sample=10, step=0.2, return_step=0.05, min_weight=0.1, tolerance=0.1)


def figures(provider: str, delivered: int, failed: int, country: str = "ZA") -> DeliveryFigures:
    return DeliveryFigures(provider, country, delivered + failed, delivered, failed, 0, 0, 1.0)


def step(
    found: list[DeliveryFigures], weights: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    moved = next_weights(
        {(f.provider, f.country): f for f in found}, weights, {"a": 1.0, "b": 1.0}, S
    )
    return {(w.provider, w.country): w.weight for w in moved}


def test_a_worse_provider_falls_by_at_most_one_step_to_its_aim() -> None:
    found = [figures("a", 50, 50), figures("b", 100, 0)]
    assert step(found, {}) == {("a", "ZA"): 0.8}
    assert step(found, {("a", "ZA"): 0.8}) == {("a", "ZA"): 0.6}
    assert step(found, {("a", "ZA"): 0.6}) == {("a", "ZA"): 0.5}  # its aim: 0.5 / 1.0


def test_never_below_the_floor() -> None:
    found = [figures("a", 0, 100), figures("b", 100, 0)]
    assert step(found, {("a", "ZA"): 0.2}) == {("a", "ZA"): 0.1}
    assert step(found, {("a", "ZA"): 0.1}) == {("a", "ZA"): 0.1}


def test_it_returns_slowly_and_is_forgotten_at_rest() -> None:
    found = [figures("a", 100, 0), figures("b", 100, 0)]
    assert step(found, {("a", "ZA"): 0.5}) == {("a", "ZA"): 0.55}
    assert step(found, {("a", "ZA"): 0.98}) == {}


def test_within_the_tolerance_of_the_best_is_as_good_as_the_best() -> None:
    assert step([figures("a", 91, 9), figures("b", 100, 0)], {}) == {}
    assert step([figures("a", 89, 11), figures("b", 100, 0)], {}) == {("a", "ZA"): 0.89}


def test_a_sample_too_small_does_not_count_and_drifts_home() -> None:
    found = [figures("a", 0, 9), figures("b", 100, 0)]
    assert step(found, {}) == {}
    assert step(found, {("a", "ZA"): 0.3}) == {("a", "ZA"): 0.35}


def test_a_lone_provider_is_held_to_perfect_delivery() -> None:
    assert step([figures("a", 60, 40)], {}) == {("a", "ZA"): 0.8}
    # All equally bad: nobody is better, nothing moves.
    assert step([figures("a", 30, 70), figures("b", 30, 70)], {}) == {}


def test_countries_are_apart_and_unconfigured_providers_are_forgotten() -> None:
    found = [figures("a", 0, 100), figures("b", 100, 0), figures("a", 100, 0, "AU")]
    assert step(found, {("gone", "ZA"): 0.5}) == {("a", "ZA"): 0.8}
