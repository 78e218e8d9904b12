"""Loading plugins: one plugin manager per Router, in a fixed order, behind a typed façade.

The order is pytest's: the built-in plugins from an explicit list, then the names blocked
in config, then the installed distributions' entry points (group ``smsrouter``), then
``check_pending()`` so a misspelt hook fails at start. Setting the environment variable
``SMSROUTER_DISABLE_PLUGIN_AUTOLOAD`` skips the entry points (for tests).
"""

from __future__ import annotations

import asyncio
import difflib
import importlib
import inspect
import logging
import os
import types
from collections.abc import Awaitable, Coroutine, Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy

import router.hookspecs as hookspecs
from router.errors import PluginError
from router.model import Balance, DeliveryReport, InboundMessage, Message, SendResult
from router.registries import (
    EmulatorRegistry,
    IngressRegistry,
    PolicyRegistry,
    ProviderRegistry,
    Registry,
)
from router.version import UNKNOWN, VERSION

ENTRY_POINT_GROUP = "smsrouter"
AUTOLOAD_OFF = "SMSROUTER_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_PLUGINS = (
    "plugins.smsbroadcast",
    "plugins.smscentral",
    "plugins.smsc",
    "plugins.smsoffice",
    "policies",
    "router.ingress.builtin",
)
"""The built-ins, loaded by module name exactly as a third-party plugin is loaded."""

log = logging.getLogger("smsrouter.plugins")


@attrs.frozen
class PluginInfo:
    """A loaded plugin and what it registered."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    providers: tuple[str, ...]
    policies: tuple[str, ...]


class PluginHost:
    """A Router's plugins: the registries they filled and the event hooks to call.

    Build one with :meth:`load`; never share one between Routers.
    """

    def __init__(self, pm: pluggy.PluginManager, *, hook_timeout: float = 5.0) -> None:
        self.pm = pm
        self.hook_timeout = hook_timeout
        self.providers = ProviderRegistry()
        self.policies = PolicyRegistry()
        self.emulators = EmulatorRegistry()
        self.ingresses = IngressRegistry()
        self._collect("smsrouter_register_providers", self.providers)
        self._collect("smsrouter_register_policies", self.policies)
        self._collect("smsrouter_register_emulators", self.emulators)
        self._collect("smsrouter_register_ingresses", self.ingresses)
        self.events = Events(self)
        """The event hooks, typed: what the core tells the plugins."""

    @classmethod
    def load(
        cls,
        *,
        extra: Iterable[object] = (),
        blocked: Iterable[str] = (),
        autoload: bool | None = None,
        hook_timeout: float = 5.0,
    ) -> PluginHost:
        """Build a plugin manager: built-ins, blocks, entry points, *extra*, then check.

        Args:
            extra: plugin objects (modules or instances) to register after the rest.
            blocked: plugin names (built-in module names or entry-point names) to skip.
            autoload: load entry points; default is on unless ``SMSROUTER_DISABLE_PLUGIN_AUTOLOAD``.
            hook_timeout: seconds an awaitable returned by an event hook may take.
        """
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        for name in blocked:
            pm.set_blocked(name)
        for module_name in BUILTIN_PLUGINS:
            if pm.is_blocked(module_name):
                continue
            pm.register(importlib.import_module(module_name), name=module_name)
        if autoload is None:
            autoload = not os.environ.get(AUTOLOAD_OFF)
        if autoload:
            _load_entry_points(pm)
        for plugin in extra:
            if pm.is_registered(plugin):
                continue  # given twice (in config and in code): once is enough
            name = _name_of(pm, plugin)
            if pm.has_plugin(name):
                raise PluginError(f"two different plugins are named {name!r}")
            try:
                pm.register(plugin, name=name)
            except (ValueError, pluggy.PluginValidationError) as exc:
                raise PluginError(f"plugin {name!r}: {exc}") from None
        _check_pending(pm)
        return cls(pm, hook_timeout=hook_timeout)

    def _collect(self, hook_name: str, registry: Registry[Any]) -> None:
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            with registry.adding_for(impl.plugin_name):
                try:
                    impl.function(registry=registry)
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: {hook_name} failed: {exc!r}"
                    ) from exc

    def describe(self) -> list[PluginInfo]:
        """Every loaded plugin, its version, hooks and what it registered.

        A plugin from an installed distribution has that distribution's version; a module
        of smsrouter's own packages (the built-ins, ``router.testing``) has smsrouter's.
        """
        versions = {self.pm.get_name(p): d.version for p, d in self.pm.list_plugin_distinfo()}
        own = _own_version()
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            module = plugin.__name__ if isinstance(plugin, types.ModuleType) else None
            ours = _is_own_module(module or type(plugin).__module__)
            infos.append(
                PluginInfo(
                    name=name,
                    version=versions.get(name, own if ours else None),
                    hooks=hooks,
                    providers=tuple(self.providers.by_plugin(name)),
                    policies=tuple(self.policies.by_plugin(name)),
                )
            )
        return sorted(infos, key=lambda i: i.name)

    async def _notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an event hook in every plugin, each isolated from the others.

        A plugin that raises, or whose awaitable fails or outlasts ``hook_timeout``, is
        logged and skipped; the caller never sees its error. Only :class:`Events` calls it,
        with one typed method per hook.
        """
        waiting: list[Awaitable[None]] = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                returned = impl.function(*(kwargs[arg] for arg in impl.argnames))
            except Exception:
                log.exception("plugin %r failed in %s", impl.plugin_name, hook_name)
                continue
            if inspect.isawaitable(returned):
                waiting.append(self._guard(impl.plugin_name, hook_name, returned))
        if waiting:
            await asyncio.gather(*waiting)

    async def _guard(self, plugin: str, hook_name: str, awaitable: Awaitable[Any]) -> None:
        try:
            async with asyncio.timeout(self.hook_timeout):  # keeps a cancel, unlike wait_for
                await awaitable
        except TimeoutError:
            log.warning(
                "plugin %r took over %ss in %s; abandoned", plugin, self.hook_timeout, hook_name
            )
        except Exception:
            log.exception("plugin %r failed in %s", plugin, hook_name)


class Events:
    """The event hooks, one typed method each: what the core tells its plugins.

    Every method awaits the hook in every plugin, each isolated from the others (a plugin's
    error or slowness is logged, never raised). :meth:`soon` runs an announcement in the
    background, for code that cannot wait (a breaker moving, a balance estimate);
    :meth:`drain` waits for those at shutdown.
    """

    def __init__(self, host: PluginHost) -> None:
        self._host = host
        self._background: set[asyncio.Task[None]] = set()

    async def message_routed(self, message: Message, result: SendResult) -> None:
        """``smsrouter_message_routed``: every recipient of *message* has a final status."""
        await self._host._notify("smsrouter_message_routed", message=message, result=result)

    async def delivery_report(
        self, report: DeliveryReport, message_id: str | None, ref: str | None, applied: bool
    ) -> None:
        """``smsrouter_delivery_report``: *report*, matched to a message and recipient, and
        whether the journal applied it."""
        await self._host._notify(
            "smsrouter_delivery_report",
            report=report,
            message_id=message_id,
            ref=ref,
            applied=applied,
        )

    async def inbound_message(self, message: InboundMessage) -> None:
        """``smsrouter_inbound_message``: a text reached one of our numbers."""
        await self._host._notify("smsrouter_inbound_message", message=message)

    async def balance_updated(self, provider: str, balance: Balance) -> None:
        """``smsrouter_balance_updated``: *provider*'s balance was learnt."""
        await self._host._notify("smsrouter_balance_updated", provider=provider, balance=balance)

    async def provider_state_changed(self, provider: str, old: str, new: str) -> None:
        """``smsrouter_provider_state_changed``: *provider*'s breaker moved."""
        await self._host._notify(
            "smsrouter_provider_state_changed", provider=provider, old=old, new=new
        )

    def soon(self, announcement: Coroutine[Any, Any, None]) -> None:
        """Run *announcement* (a call of one of the methods above) in the background.

        Outside a running event loop it is dropped: there is nobody to tell.
        """
        try:
            task = asyncio.get_running_loop().create_task(announcement)
        except RuntimeError:
            announcement.close()
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for the announcements :meth:`soon` started."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """Load every entry point of the group, one by one, so a failure names its plugin."""
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            try:
                pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=ep.name)
            except Exception as exc:
                where = f"{ep.value!r} from {dist.name} {dist.version}"
                raise PluginError(f"plugin {ep.name!r} ({where}) failed to load: {exc!r}") from exc


def _name_of(pm: pluggy.PluginManager, plugin: object) -> str:
    """A readable name for an extra plugin: a module's name, else its class's, made unique."""
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str) and name:
        return name
    # An instance has no name of its own; pluggy would call it by its id(), which no error
    # message or listing should show.
    cls = type(plugin)
    base = f"{cls.__module__}.{cls.__qualname__}"
    name, count = base, 1
    while pm.has_plugin(name) and pm.get_plugin(name) is not plugin:
        count += 1
        name = f"{base}#{count}"
    return name


def _check_pending(pm: pluggy.PluginManager) -> None:
    """Refuse hook implementations no hook spec knows (a misspelt name), naming each."""
    known = [name for name in vars(pm.hook) if getattr(pm.hook, name).has_spec()]
    problems = []
    for name, caller in vars(pm.hook).items():
        if name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"plugin {impl.plugin_name!r}: unknown hook {name!r}{hint}")
    if problems:
        raise PluginError("\n".join(problems))


def _is_own_module(module_name: str) -> bool:
    return module_name.partition(".")[0] in ("router", "plugins", "policies")


def _own_version() -> str | None:
    return None if VERSION == UNKNOWN else VERSION
