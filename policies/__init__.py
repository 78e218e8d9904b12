"""The built-in routing policies, registered as a plugin like any other."""

from __future__ import annotations

from policies.balance import HighestBalance
from policies.cheapest import Cheapest
from policies.prefix import Prefix
from policies.priority import Priority
from policies.quality import Quality
from policies.share import Share
from router import PolicyRegistry, hookimpl

__all__ = ["Cheapest", "HighestBalance", "Prefix", "Priority", "Quality", "Share"]


@hookimpl
def smsrouter_register_policies(registry: PolicyRegistry) -> None:
    """Register ``prefix``, ``cheapest``, ``balance``, ``priority``, ``quality``, ``share``."""
    for policy in (Prefix, Cheapest, HighestBalance, Priority, Quality, Share):
        registry.add(policy)
