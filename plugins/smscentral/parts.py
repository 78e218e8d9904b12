"""SMS Central's multi-part reports: which part a report is about, and the message's status.

Each part of a message is reported on its own (providers.md 4.5): :func:`parse_udh` reads
which part from the report's UDH, and :class:`PartTracker` combines the parts' reports into
one status per message.
"""

from __future__ import annotations

import collections
from typing import TypeVar

from router import DeliveryStatus


def parse_udh(udh: str) -> tuple[str, int, int] | None:
    """(concatenation reference, parts, this part) from a hex UDH, or None.

    ``0500038A0302`` is reference ``8A``, 3 parts, part 2 (8-bit reference); the 16-bit
    form (``0608041A2B0302``) is read too.
    """
    try:
        data = bytes.fromhex(udh.strip())
    except ValueError:
        return None
    if not data or 1 + data[0] > len(data):
        return None
    end, at = 1 + data[0], 1
    while at + 2 <= end:
        element, length = data[at], data[at + 1]
        value = data[at + 2 : at + 2 + length]
        if at + 2 + length > end:
            return None
        if element == 0x00 and length == 3:
            reference, total, part = f"{value[0]:02X}", value[1], value[2]
        elif element == 0x08 and length == 4:
            reference, total, part = f"{value[0]:02X}{value[1]:02X}", value[2], value[3]
        else:
            at += 2 + length
            continue
        return (reference, total, part) if 1 <= part <= total else None
    return None


PartKey = tuple[str, str, int]
"""A multi-part message: our reference, the UDH concatenation reference, its part count."""
T = TypeVar("T")


class PartTracker:
    """The part reports of multi-part messages, combined into one status per message.

    A message is failed as soon as any part failed, delivered once every part is, and
    enroute until then. Open messages are dropped once final (the final status is kept,
    so late parts report it too); both tables hold at most *size* messages.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._open: collections.OrderedDict[PartKey, dict[int, DeliveryStatus]] = (
            collections.OrderedDict()
        )
        self._final: collections.OrderedDict[PartKey, DeliveryStatus] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def record(self, key: PartKey, part: int, total: int, status: DeliveryStatus) -> DeliveryStatus:
        """Note *part*'s *status* and return the message's combined status."""
        final = self._final.get(key)
        if final is not None:
            return final
        parts = self._open.pop(key, {})
        previous = parts.get(part)
        if previous is None or not previous.is_final:
            parts[part] = status
        if any(s.is_final and s is not DeliveryStatus.DELIVERED for s in parts.values()):
            combined = DeliveryStatus.FAILED
        elif len(parts) == total and all(s is DeliveryStatus.DELIVERED for s in parts.values()):
            combined = DeliveryStatus.DELIVERED
        else:
            combined = DeliveryStatus.ENROUTE
        if combined.is_final:
            self._final[key] = combined
            _trim(self._final, self.size)
        else:
            self._open[key] = parts
            _trim(self._open, self.size)
        return combined


def _trim(table: collections.OrderedDict[PartKey, T], size: int) -> None:
    while len(table) > size:
        table.popitem(last=False)
