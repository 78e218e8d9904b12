"""The options of an ``smsc`` provider table."""

from __future__ import annotations

import attrs

from router import Secret


def _check_folder(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    # providers.md 3.1: the commands are <base>/send.php, status.php, balance.php, get.php.
    if value.split("?")[0].rstrip("/").lower().endswith(".php"):
        raise ValueError(
            f"the folder holding send.php, status.php and balance.php, not a script; got {value!r}"
        )


@attrs.frozen
class SMSCConfig:
    """The options of an ``smsc`` provider table.

    Either ``apikey``, or ``login`` and ``psw``, authenticate every call.
    """

    login: str = ""
    psw: Secret | None = None
    """The account password, or the lower-case md5 of it (providers.md 3.1)."""
    apikey: Secret | None = None
    """When set, sent as ``apikey`` instead of ``login``/``psw``."""
    base_url: str = attrs.field(default="https://smsc.ru/sys", validator=_check_folder)
    """The folder of the commands (a folder, not a script); ``https://smscentre.com/sys`` and
    ``https://smsc.kz/sys`` speak the same API."""
    sender: str | None = None
    """The sender ID when a message has none; unset, the account's default sender."""
    callback_secret: Secret | None = None
    """The secret of the md5/sha1 signature of status pushes; unset, pushes are unsigned."""
    currency: str = "RUB"
    """The account's currency: the balance unit when the answer does not name it."""

    def __attrs_post_init__(self) -> None:
        if self.apikey is None and not (self.login and self.psw):
            raise ValueError("smsc needs apikey, or login and psw")
