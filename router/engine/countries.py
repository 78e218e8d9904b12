"""Which recipients of a batch their country's breaker lets go to a provider."""

from __future__ import annotations

from router.engine.providers import ProviderState
from router.engine.recover import Progress


def admitted(state: ProviderState, items: list[Progress]) -> list[Progress]:
    """The recipients whose country's breaker lets them go to *state*; the rest move on to
    their next candidate, with why."""
    found = []
    for item in items:
        country = item.recipient.country
        if state.countries.acquire(country):
            found.append(item)
        else:
            held = state.countries.breaker(country).state
            item.reasons[state.name] = f"circuit breaker for {country} {held}"
            item.position += 1
    return found
