"""Provider names given in tables other than ``[providers.*]``: each must name a provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from router.config.converter import join_path
from router.config.settings import RouterSettings
from router.registries import PolicyRegistry


def named_problems(
    router: RouterSettings,
    policies: Mapping[str, Any],
    registry: PolicyRegistry,
    providers: Sequence[str],
) -> list[str]:
    """Names in ``[router.quality] resting`` and in the chained policies' own tables
    (:meth:`router.Policy.problems`) that no provider table has."""
    found = [
        f"{join_path('router.quality.resting', name)}: no provider is named {name!r}"
        for name in router.quality.resting
        if name not in providers
    ]
    for name, options in policies.items():
        cls = registry.get(name)
        if cls is not None and options is not None:
            where = join_path("policies", name)
            found.extend(f"{where}.{line}" for line in cls.problems(options, providers))
    return found
