"""Rules that hold whichever provider carries a message: one opt-out list, quiet hours in
the recipient's time zone, send and expiry times.

* :mod:`~router.compliance.optouts`: the opt-out list, in the journal and in memory;
* :mod:`~router.compliance.quiet`: a number's time zones and when its quiet hours end;
* :mod:`~router.compliance.admit`: which recipients of a message go now;
* :mod:`~router.compliance.rules`: the part the Router is composed of.
"""

from __future__ import annotations

from router.compliance.admit import OPTED_OUT, Admission
from router.compliance.optouts import OptOutList
from router.compliance.rules import Compliance, check_url

__all__ = ["OPTED_OUT", "Admission", "Compliance", "OptOutList", "check_url"]
