"""Drop-in APIs of other gateways, served by the daemon: Kannel's and Jasmin's.

The contract is :mod:`router.ingress.base` (:class:`~router.Ingress`), the two that ship
are :mod:`router.ingress.kannel` and :mod:`router.ingress.jasmin`, registered by the
built-in plugin :mod:`router.ingress.builtin`; the daemon serves them
(:mod:`router.daemon.ingress`).
"""
