"""Decisions remembered per destination prefix and message shape.

The built-in policies read a destination only as far as some provider's ``prefixes`` or
``prices`` reach: two numbers with the same longest prefix among all of them get the same
answer from a cacheable chain (:attr:`~router.policy.Policy.cacheable`), as long as the
message's shape, the providers' live state and the policies' own versions are the same.
:class:`Decisions` keeps those answers, bounded, and forgets them all when anything they
were decided on moves.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from router.policy import Candidate, Exclusion

Decision = tuple[tuple[Candidate, ...], tuple[Exclusion, ...]]
"""The candidates in failover order and the excluded providers, as the chain answers."""

MAX_DECISIONS = 4096
"""The most decisions remembered at once; past it they are forgotten and made again."""


class Decisions:
    """A bounded memory of decisions, keyed by destination prefix and message shape.

    Args:
        tables: every provider's ``prefixes`` and ``prices`` (their keys): what a
            destination is read by.
    """

    def __init__(self, tables: Iterable[Iterable[str]], limit: int = MAX_DECISIONS) -> None:
        known = {prefix for table in tables for prefix in table}
        self._known = frozenset(known)
        self._lengths = tuple(sorted({len(p) for p in known}, reverse=True))
        self.limit = limit
        self._found: dict[Hashable, tuple[str, Decision]] = {}
        self._stamp: Hashable = None
        self.hits = 0
        """Decisions answered from memory so far."""

    def destination(self, digits: str) -> str:
        """The longest prefix of *digits* some table has ("" when none has one).

        Every prefix of *digits* in any table is a prefix of it, so it decides which
        prefixes and prices each provider matches.
        """
        known = self._known
        for length in self._lengths:
            if length <= len(digits) and digits[:length] in known:
                return digits[:length]
        return ""

    def check(self, stamp: Hashable) -> None:
        """Forget every decision when *stamp* (the live state and versions) has moved."""
        if stamp != self._stamp:
            self._found.clear()
            self._stamp = stamp

    def get(self, key: Hashable, e164: str) -> Decision | None:
        """The decision remembered for *key*, its reasons naming *e164*; None if none."""
        found = self._found.get(key)
        if found is None:
            return None
        self.hits += 1
        decided_for, (candidates, excluded) = found
        if decided_for != e164 and excluded:
            excluded = tuple(_renamed(x, decided_for, e164) for x in excluded)
        return candidates, excluded

    def put(self, key: Hashable, e164: str, decision: Decision) -> None:
        """Remember *decision*, made for the recipient *e164*, under *key*."""
        if len(self._found) >= self.limit:
            self._found.clear()
        self._found[key] = (e164, decision)


def _renamed(exclusion: Exclusion, old: str, new: str) -> Exclusion:
    if old not in exclusion.reason:
        return exclusion
    return Exclusion(exclusion.provider, exclusion.policy, exclusion.reason.replace(old, new))
