"""The plugin system: loading (built-ins, entry points, blocks, the kill switch), refusals
at start, the listing, isolated event hooks, documented hooks, and a real installed plugin."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import re
import shutil
import subprocess
import sys
import textwrap
import types
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import router.testing
from router import Message, Policy, RecipientStatus, Router, hookimpl
from router.errors import ConfigError, NoRouteError, PluginError
from router.model import CallbackKind, CallbackRequest, DeliveryReport, SendResult
from router.plugins import BUILTIN_PLUGINS, Events, PluginHost, PluginInfo
from router.registries import PolicyRegistry, ProviderRegistry
from router.testing import FakeProvider
from tests.example_plugins import price_cap

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ("smsrouter_register_policies", "smsrouter_register_providers")
WITH_EMULATOR = ("smsrouter_register_emulators", "smsrouter_register_providers")
OWN_VERSION = importlib.metadata.version("smsrouter")

FAKE_CONFIG: dict[str, Any] = {"providers": {"f": {"plugin": "fake"}}}


# -- a real distribution on sys.path ------------------------------------------------------

Install = Callable[..., str]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install a one-module distribution with an ``smsrouter`` entry point, for real.

    Writes ``<module>.py`` and ``<dist>-<version>.dist-info`` (METADATA, entry_points.txt)
    into a folder put first on ``sys.path``; importlib.metadata finds it as it finds any
    installed distribution. Returns the module name, unique to the test.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []
    suffix = re.sub(r"\W", "_", tmp_path.name)

    def make(dist: str, entry: str, source: str, version: str = "1.0") -> str:
        module = f"{dist.replace('-', '_')}_{suffix}"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[smsrouter]\n{entry} = {module}\n")
        importlib.invalidate_caches()
        modules.append(module)
        return module

    yield make
    for module in modules:
        sys.modules.pop(module, None)


ACME = """
    from router import hookimpl
    from router.testing import FakeProvider

    class AcmeProvider(FakeProvider):
        type_name = "acme"

    @hookimpl
    def smsrouter_register_providers(registry):
        registry.add(AcmeProvider)
"""


# -- loading ------------------------------------------------------------------------------


def test_built_ins_load_as_plugins_like_any_other() -> None:
    host = PluginHost.load(autoload=False)

    assert host.describe() == [
        PluginInfo("plugins.smsbroadcast", OWN_VERSION, WITH_EMULATOR, ("smsbroadcast",), ()),
        PluginInfo("plugins.smsc", OWN_VERSION, WITH_EMULATOR, ("smsc",), ()),
        PluginInfo("plugins.smscentral", OWN_VERSION, WITH_EMULATOR, ("smscentral",), ()),
        PluginInfo("plugins.smsoffice", OWN_VERSION, WITH_EMULATOR, ("smsoffice",), ()),
        PluginInfo(
            "policies", OWN_VERSION, HOOKS[:1], (), ("balance", "cheapest", "prefix", "priority")
        ),
        PluginInfo(
            "router.ingress.builtin", OWN_VERSION, ("smsrouter_register_ingresses",), (), ()
        ),
    ]
    assert sorted(name for name, _ in host.pm.list_name_plugin()) == sorted(BUILTIN_PLUGINS)
    assert host.pm.get_plugin("plugins.smsc") is importlib.import_module("plugins.smsc")


def test_an_installed_distribution_is_found_by_its_entry_point(install: Install) -> None:
    module = install("acme-sms", "acme", ACME, version="2.3.0")

    host = PluginHost.load(autoload=True)

    assert [i for i in host.describe() if i.name == "acme"] == [
        PluginInfo("acme", "2.3.0", HOOKS[1:], ("acme",), ())
    ]
    assert host.pm.get_plugin("acme") is sys.modules[module]
    assert host.providers.get("acme") is sys.modules[module].AcmeProvider


def test_the_kill_switch_stops_autoloading(
    install: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    install("acme-sms", "acme", ACME)

    monkeypatch.setenv("SMSROUTER_DISABLE_PLUGIN_AUTOLOAD", "1")
    switched_off = PluginHost.load()
    asked_for = PluginHost.load(autoload=True)
    monkeypatch.delenv("SMSROUTER_DISABLE_PLUGIN_AUTOLOAD")
    by_default = PluginHost.load()

    assert switched_off.providers.get("acme") is None
    assert asked_for.providers.get("acme") is not None
    assert by_default.providers.get("acme") is not None


async def test_blocked_plugins_are_skipped(install: Install) -> None:
    install("acme-sms", "acme", ACME)
    config = {
        "router": {"blocked_plugins": ["acme", "plugins.smsc"]},
        "providers": {"f": {"plugin": "fake"}},
    }

    router_ = Router(config, plugins=[router.testing], autoload=True)

    names = [i.name for i in router_.plugins.describe()]
    assert names == [
        "plugins.smsbroadcast",
        "plugins.smscentral",
        "plugins.smsoffice",
        "policies",
        "router.ingress.builtin",
        "router.testing",
    ]
    assert router_.plugins.providers.names() == ["fake", "smsbroadcast", "smscentral", "smsoffice"]


def test_a_plugin_object_is_blocked_by_its_class_name() -> None:
    host = PluginHost.load(
        extra=[Registers(FakeProvider)],
        blocked=["tests.test_plugins.Registers"],
        autoload=False,
    )

    assert host.providers.get("fake") is None
    assert "tests.test_plugins.Registers" not in [i.name for i in host.describe()]


def test_a_blocked_provider_type_is_unknown_to_the_config() -> None:
    with pytest.raises(ConfigError) as caught:
        Router(
            {
                "router": {"blocked_plugins": ["plugins.smsc"]},
                "providers": {"x": {"plugin": "smsc"}},
            }
        )

    assert caught.value.problems == (
        "providers.x.plugin: unknown plugin 'smsc' (known: smsbroadcast, smscentral, smsoffice)",
    )


def test_an_entry_point_that_fails_to_import_is_named(install: Install) -> None:
    module = install("broken-sms", "broken", "import no_such_module_here\n", version="0.1")

    with pytest.raises(PluginError) as caught:
        PluginHost.load(autoload=True)

    assert str(caught.value) == (
        f"plugin 'broken' ('{module}' from broken-sms 0.1) failed to load: "
        "ModuleNotFoundError(\"No module named 'no_such_module_here'\")"
    )


# -- refusals at start --------------------------------------------------------------------


def test_a_duplicate_provider_type_names_both_plugins(install: Install) -> None:
    install(
        "office-clone",
        "clone",
        """
        from router import hookimpl
        from router.testing import FakeProvider

        class Clone(FakeProvider):
            type_name = "smsoffice"

        @hookimpl
        def smsrouter_register_providers(registry):
            registry.add(Clone)
        """,
    )

    with pytest.raises(PluginError) as caught:
        Router(FAKE_CONFIG, plugins=[router.testing], autoload=True)

    assert str(caught.value) == (
        "provider type 'smsoffice' is registered twice: by plugin 'plugins.smsoffice' "
        "and by plugin 'clone'"
    )


class Registers:
    """A plugin object (not a module) that registers whatever it is given."""

    def __init__(self, *providers: object, policies: tuple[object, ...] = ()) -> None:
        self.providers = providers
        self.policies = policies

    @hookimpl
    def smsrouter_register_providers(self, registry: ProviderRegistry) -> None:
        for provider in self.providers:
            registry.add(provider)

    @hookimpl
    def smsrouter_register_policies(self, registry: PolicyRegistry) -> None:
        for policy in self.policies:
            registry.add(policy)


class Cheap(Policy):
    """A second policy called ``cheapest``."""

    name = "cheapest"


def test_a_duplicate_policy_names_both_plugins() -> None:
    with pytest.raises(PluginError) as caught:
        PluginHost.load(extra=[Registers(policies=(Cheap,))], autoload=False)

    assert str(caught.value) == (
        "policy 'cheapest' is registered twice: by plugin 'policies' and by plugin "
        "'tests.test_plugins.Registers'"
    )


def test_two_instances_of_one_plugin_class_get_their_own_names() -> None:
    class Fake2(FakeProvider):
        type_name = "fake2"

    host = PluginHost.load(extra=[Registers(FakeProvider), Registers(Fake2)], autoload=False)

    assert host.providers.by_plugin("tests.test_plugins.Registers") == ["fake"]
    assert host.providers.by_plugin("tests.test_plugins.Registers#2") == ["fake2"]


def test_one_plugin_given_twice_is_registered_once() -> None:
    # Named in config (router.plugins) and passed in code, say: no harm in that.
    host = PluginHost.load(extra=[router.testing, router.testing], autoload=False)

    assert [name for name, _ in host.pm.list_name_plugin()].count("router.testing") == 1
    assert host.providers.by_plugin("router.testing") == ["fake"]


def test_two_plugins_of_one_name_are_refused() -> None:
    first, second = types.ModuleType("twin"), types.ModuleType("twin")

    with pytest.raises(PluginError) as caught:
        PluginHost.load(extra=[first, second], autoload=False)

    assert str(caught.value) == "two different plugins are named 'twin'"


def test_a_misspelt_hook_fails_at_start() -> None:
    plugin = types.ModuleType("typo_plugin")

    @hookimpl
    def smsrouter_register_provider(registry: ProviderRegistry) -> None:
        raise AssertionError("never called")

    plugin.smsrouter_register_provider = smsrouter_register_provider  # type: ignore[attr-defined]

    with pytest.raises(PluginError) as caught:
        Router(FAKE_CONFIG, plugins=[router.testing, plugin])

    assert str(caught.value) == (
        "plugin 'typo_plugin': unknown hook 'smsrouter_register_provider' "
        "(did you mean 'smsrouter_register_providers'?)"
    )


@attrs.frozen
class Options:
    """Options of a provider type."""


class NoConfig(FakeProvider):
    """A provider type whose Config is not an attrs class."""

    type_name = "noconfig"
    Config = dict  # type: ignore[assignment]


class NoName(FakeProvider):
    """A provider type without a usable type_name."""

    type_name = ""


@pytest.mark.parametrize(
    ("registered", "message"),
    [
        (dict, "<class 'dict'> is not a Provider"),
        (Options, "<class 'tests.test_plugins.Options'> is not a Provider"),
        ("fake", "'fake' is not a Provider"),
        (NoConfig, "NoConfig.Config must be an attrs class"),
        (NoName, "NoName has no type_name"),
    ],
)
def test_what_is_not_a_provider_type_is_refused(registered: object, message: str) -> None:
    with pytest.raises(PluginError) as caught:
        PluginHost.load(extra=[Registers(registered)], autoload=False)

    assert str(caught.value).startswith("plugin 'tests.test_plugins.Registers': ")
    assert str(caught.value).endswith(message)


def test_a_registration_hook_that_raises_is_a_plugin_error() -> None:
    plugin = types.ModuleType("raising_plugin")

    @hookimpl
    def smsrouter_register_providers(registry: ProviderRegistry) -> None:
        raise RuntimeError("boom")

    plugin.smsrouter_register_providers = smsrouter_register_providers  # type: ignore[attr-defined]

    with pytest.raises(PluginError) as caught:
        PluginHost.load(extra=[plugin], autoload=False)

    assert str(caught.value) == (
        "plugin 'raising_plugin': smsrouter_register_providers failed: RuntimeError('boom')"
    )


def test_describe_lists_an_extra_plugin_and_its_version() -> None:
    host = PluginHost.load(extra=[router.testing, Registers()], autoload=False)

    extra = [i for i in host.describe() if i.name not in BUILTIN_PLUGINS]
    assert extra == [
        PluginInfo("router.testing", OWN_VERSION, HOOKS[1:], ("fake",), ()),
        PluginInfo("tests.test_plugins.Registers", None, HOOKS, (), ()),
    ]


# -- event hooks never fail a send --------------------------------------------------------


class Recorder:
    """Remembers every event it is told of."""

    def __init__(self) -> None:
        self.routed: list[SendResult] = []
        self.reports: list[tuple[DeliveryReport, str | None]] = []

    @hookimpl
    def smsrouter_message_routed(self, message: Message, result: SendResult) -> None:
        self.routed.append(result)

    @hookimpl
    def smsrouter_delivery_report(self, report: DeliveryReport, message_id: str | None) -> None:
        self.reports.append((report, message_id))


class Raises:
    """Fails at once in every event hook."""

    @hookimpl
    def smsrouter_message_routed(self, message: Message, result: SendResult) -> None:
        raise RuntimeError("raised at once")

    @hookimpl
    def smsrouter_delivery_report(self, report: DeliveryReport, message_id: str | None) -> None:
        raise RuntimeError("raised at once")


class FailsLater:
    """Returns an awaitable that fails."""

    @hookimpl
    async def smsrouter_message_routed(self, message: Message, result: SendResult) -> None:
        raise RuntimeError("failed when awaited")

    @hookimpl
    async def smsrouter_delivery_report(
        self, report: DeliveryReport, message_id: str | None
    ) -> None:
        raise RuntimeError("failed when awaited")


class TooSlow:
    """Returns an awaitable that would never finish; it is abandoned after hook_timeout."""

    def __init__(self) -> None:
        self.cancelled = 0

    def _forever(self) -> Awaitable[None]:
        async def wait() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise

        return wait()

    @hookimpl
    def smsrouter_message_routed(self, message: Message, result: SendResult) -> Awaitable[None]:
        return self._forever()

    @hookimpl
    def smsrouter_delivery_report(
        self, report: DeliveryReport, message_id: str | None
    ) -> Awaitable[None]:
        return self._forever()


def _router(*plugins: object) -> Router:
    data = {"router": {"hook_timeout": "10ms"}, "providers": {"f": {"plugin": "fake"}}}
    return Router(data, plugins=[router.testing, *plugins])


def _plugin_log(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "smsrouter.plugins"]


async def test_failing_event_hooks_never_fail_a_send(caplog: pytest.LogCaptureFixture) -> None:
    first, last, slow = Recorder(), Recorder(), TooSlow()
    router_ = _router(first, Raises(), FailsLater(), slow, last)

    async with router_:
        result = await router_.send(Message(to="+61412345678", text="Hello"))

    assert result["+61412345678"].status is RecipientStatus.ACCEPTED
    assert first.routed == [result]
    assert last.routed == [result]
    assert slow.cancelled == 1
    assert _plugin_log(caplog) == [
        (logging.ERROR, "plugin 'tests.test_plugins.Raises' failed in smsrouter_message_routed"),
        (
            logging.ERROR,
            "plugin 'tests.test_plugins.FailsLater' failed in smsrouter_message_routed",
        ),
        (
            logging.WARNING,
            "plugin 'tests.test_plugins.TooSlow' took over 0.01s in smsrouter_message_routed; "
            "abandoned",
        ),
    ]


async def test_failing_event_hooks_never_fail_a_callback() -> None:
    recorder, slow = Recorder(), TooSlow()
    router_ = _router(Raises(), FailsLater(), slow, recorder)

    async with router_:
        sent = await router_.send(Message(to="+61412345678", text="Hello"))
        push = CallbackRequest("GET", query={"id": "f-1", "status": "delivered"})
        answer = await router_.handle_callback("f", CallbackKind.DLR, push)

    assert answer.response.body == "OK"
    assert [(r.status, r.provider_message_id, m) for r, m in recorder.reports] == [
        ("delivered", "f-1", sent.message_id)
    ]
    assert slow.cancelled == 2  # abandoned once for the send, once for the report


async def test_a_failed_send_still_tells_the_plugins() -> None:
    recorder = Recorder()
    data = {"providers": {"f": {"plugin": "fake", "outcome": "unavailable"}}}

    async with Router(data, plugins=[router.testing, recorder]) as router_:
        with pytest.raises(NoRouteError):
            await router_.send(Message(to="+61412345678", text="Hello"))

    assert [r["+61412345678"].status for r in recorder.routed] == [RecipientStatus.FAILED]


def test_hook_timeout_from_a_mapping_config() -> None:
    router_ = Router({"router": {"hook_timeout": "10ms"}, **FAKE_CONFIG}, plugins=[router.testing])

    assert router_.plugins.hook_timeout == 0.01


# -- a policy plugin ----------------------------------------------------------------------


async def test_the_example_policy_plugin_routes() -> None:
    config = {
        "router": {"policy": ["price_cap", "least_busy"], "currencies": {"ZAR": 0.083}},
        "policies": {"price_cap": {"max_price": 0.05}},
        "providers": {
            "dear": {"plugin": "fake", "prices": {"61": 0.09}},
            "cheap": {"plugin": "fake", "prices": {"61": 0.04}},
            "rand": {"plugin": "fake", "currency": "ZAR", "prices": {"61": 0.5}},
            "unpriced": {"plugin": "fake"},
        },
    }

    async with Router(config, plugins=[router.testing, price_cap]) as router_:
        plan = router_.route(Message(to="+61412345678", text="Hi"))

    route = plan.routes[0]
    assert [(c.provider, dict(c.keys)) for c in route.candidates] == [
        ("cheap", {"least_busy": "0 in flight"}),
        ("rand", {"least_busy": "0 in flight"}),
        ("unpriced", {"least_busy": "0 in flight"}),
    ]
    assert [(e.provider, e.policy, e.reason) for e in route.excluded] == [
        ("dear", "price_cap", "0.09 AUD a segment is over the cap of 0.05")
    ]


# -- every hook is documented, every event hook has its typed method ---------------------


def test_every_event_hook_has_one_typed_method_with_its_arguments() -> None:
    host = PluginHost.load(autoload=False)
    events = {
        name.removeprefix("smsrouter_"): caller.spec.argnames
        for name, caller in vars(host.pm.hook).items()
        if caller.spec is not None and not name.startswith("smsrouter_register_")
    }
    methods = {
        name: tuple(inspect.signature(method).parameters)[1:]  # without self
        for name, method in inspect.getmembers(Events, inspect.iscoroutinefunction)
        if not name.startswith("_") and name != "drain"
    }
    assert methods == events


def test_every_hook_is_documented() -> None:
    host = PluginHost.load(autoload=False)
    guide = (ROOT / "docs" / "plugins.md").read_text()
    hooks = {
        name: caller
        for name, caller in vars(host.pm.hook).items()
        if not name.startswith("_") and caller.spec is not None
    }

    assert sorted(hooks) == [
        "smsrouter_balance_updated",
        "smsrouter_delivery_report",
        "smsrouter_inbound_message",
        "smsrouter_message_routed",
        "smsrouter_provider_state_changed",
        "smsrouter_register_emulators",
        "smsrouter_register_ingresses",
        "smsrouter_register_policies",
        "smsrouter_register_providers",
    ]
    for name, caller in hooks.items():
        assert caller.spec is not None
        doc = caller.spec.function.__doc__ or ""
        assert doc.strip(), f"{name} has no docstring"
        for arg in caller.spec.argnames:
            assert f"{arg}:" in doc, f"{name}'s docstring does not say what {arg!r} is"
        # The guide lists each hook with its arguments, so a changed signature shows there.
        signature = f"{name}({', '.join(caller.spec.argnames)})"
        assert signature in guide, f"docs/plugins.md does not show {signature}"


# -- the example plugin, installed for real -----------------------------------------------


@pytest.fixture
def installed_echo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``pip install`` the example plugin into a folder put first on ``sys.path``."""
    # Built from a copy, so setuptools' build files never land in the source tree.
    source = tmp_path / "smsrouter_echo"
    shutil.copytree(
        ROOT / "tests" / "example_plugins" / "smsrouter_echo",
        source,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
    )
    target = tmp_path / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    command += ["--no-build-isolation", "--no-cache-dir", "--disable-pip-version-check"]
    command += ["--target", str(target), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603
    for name in [m for m in sys.modules if m.partition(".")[0] == "smsrouter_echo"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(target))
    importlib.invalidate_caches()
    yield target
    for name in [m for m in sys.modules if m.partition(".")[0] == "smsrouter_echo"]:
        del sys.modules[name]


def _can_build_wheels() -> bool:
    """Whether this environment's setuptools builds a wheel with nothing downloaded."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    # setuptools builds wheels by itself from 70.1; before, it needs the wheel package.
    release = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    return release >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.mark.xfail(
    not _can_build_wheels(),
    strict=True,
    reason="this environment cannot build a wheel offline: the test extra needs "
    "setuptools>=70.1 (pyproject.toml)",
)
async def test_the_example_plugin_installs_and_routes(installed_echo: Path) -> None:
    config = {
        "providers": {
            "echo": {"plugin": "echo", "username": "demo", "password": "pw", "sandbox": True}
        }
    }

    async with Router(config, autoload=True) as router_:
        result = await router_.send(Message(to=["+61412345678", "+61412345679"], text="Hi"))
        listed = [i for i in router_.plugins.describe() if i.name == "echo"]

    assert listed == [PluginInfo("echo", "1.0.0", WITH_EMULATOR, ("echo",), ())]
    assert [(r.status, r.provider, r.provider_message_id) for r in result.recipients] == [
        (RecipientStatus.ACCEPTED, "echo", f"sandbox-{result.message_id}-0"),
        (RecipientStatus.ACCEPTED, "echo", f"sandbox-{result.message_id}-1"),
    ]
    module = sys.modules["smsrouter_echo"]
    assert Path(module.__file__ or "").is_relative_to(installed_echo)
    entry_points = importlib.metadata.distribution("smsrouter-echo").entry_points
    assert [(e.group, e.name, e.value) for e in entry_points] == [
        ("smsrouter", "echo", "smsrouter_echo")
    ]
