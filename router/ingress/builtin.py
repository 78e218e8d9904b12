"""The built-in ingress plugin: registers Kannel's and Jasmin's drop-in APIs.

Loaded like any other plugin (``router.blocked_plugins = ["router.ingress.builtin"]``
leaves both out); each is off until its ``[ingress.NAME]`` table is in the config.
"""

from __future__ import annotations

from router.hookspecs import hookimpl
from router.ingress.jasmin import JasminIngress
from router.ingress.kannel import KannelIngress
from router.registries import IngressRegistry

__all__ = ["smsrouter_register_ingresses"]


@hookimpl
def smsrouter_register_ingresses(registry: IngressRegistry) -> None:
    """Register Kannel's ``/cgi-bin/sendsms`` and Jasmin's ``/send`` and ``/balance``."""
    registry.add(KannelIngress)
    registry.add(JasminIngress)
