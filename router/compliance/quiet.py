"""Quiet hours in the recipient's local time: its zones from the number, the most cautious.

A number's time zones come from phonenumbers' geocoding data: one for a Sydney landline,
all of Australia's for an Australian mobile. A recipient is in quiet hours when it is quiet
in any of its zones, and they end when it is quiet in none, so no zone the number may be
in gets the message at night.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo

import phonenumbers
from phonenumbers import timezone as phone_zones

from router.config.compliance import QuietHours

__all__ = ["SEARCH_LIMIT", "quiet_until", "zones_for"]

SEARCH_LIMIT = 2 * 86400.0
"""How far ahead a time quiet in none of a number's zones is looked for."""


@functools.lru_cache(maxsize=4096)
def zones_for(e164: str) -> tuple[zoneinfo.ZoneInfo, ...]:
    """The time zones *e164* may be in; none when phonenumbers does not know them."""
    try:
        names = phone_zones.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return ()
    zones = []
    for name in names:
        try:
            zones.append(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue  # "Etc/Unknown", or a zone the system's data lacks
    return tuple(zones)


def _quiet_end(window: QuietHours, zone: zoneinfo.ZoneInfo, at: float) -> float | None:
    """When the quiet hours *at* falls in end in *zone*, or None when *at* is not quiet."""
    local = datetime.datetime.fromtimestamp(at, zone)
    if local.hour * 60 + local.minute not in window:
        return None
    end = local.replace(hour=window.end // 60, minute=window.end % 60, second=0, microsecond=0)
    if end <= local:
        end += datetime.timedelta(days=1)
    # Wall-clock arithmetic: the end's own offset (a DST change overnight) is taken.
    return datetime.datetime.combine(end.date(), end.time(), zone).timestamp()


def quiet_until(
    window: QuietHours, zones: tuple[zoneinfo.ZoneInfo, ...], at: float
) -> float | None:
    """When a recipient in *zones* may be sent to, if *at* is in its quiet hours; else None.

    The earliest time from *at* that is quiet in none of the zones; when the zones are so
    far apart that no such time comes within :data:`SEARCH_LIMIT`, the time the last of
    them leaves the quiet hours it is in at *at*.
    """
    moment = at
    while moment - at <= SEARCH_LIMIT:
        ends = [e for e in (_quiet_end(window, z, moment) for z in zones) if e is not None]
        if not ends:
            return None if moment == at else moment
        moment = max(ends)
    ends = [e for e in (_quiet_end(window, z, at) for z in zones) if e is not None]
    return max(ends)
