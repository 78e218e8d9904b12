"""What a provider pushes to the daemon: the request as received and the answer it expects.

What a push held (:class:`~router.model.CallbackResult`) is with the other values in
:mod:`router.model`, which re-exports these.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs


class CallbackKind(enum.StrEnum):
    """What a provider pushes to the daemon."""

    DLR = "dlr"
    INBOUND = "inbound"


@attrs.frozen
class CallbackRequest:
    """A provider's push, as the daemon received it."""

    method: str
    query: Mapping[str, str] = attrs.field(factory=dict)
    form: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def params(self) -> Mapping[str, str]:
        """Query and form fields together; form fields win."""
        return {**self.query, **self.form}


@attrs.frozen
class CallbackResponse:
    """The exact HTTP answer a provider expects to a push."""

    body: str = ""
    status: int = 200
    content_type: str = "text/plain"
