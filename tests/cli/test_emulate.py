"""``smsrouter emulate --write-config``: a config that serves against the emulators.

Each emulator is reached where its API lives (SMS Broadcast's script, SMS Office's and
SMSC's directories), and pushes to its own provider's callback URLs on the daemon, so every
provider's delivery reports and inbound texts arrive. The command and the daemon are real
processes; the second test starts the emulators in this process to push inbound texts.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from router.cli.emulate import read_example, start_emulators, write_config
from router.cli.toml_text import toml_text
from tests.cli.support import LoggedDaemon
from tests.daemon.support import SECRET, DaemonProcess, free_port, wait_until

NUMBERS = {
    "broadcast": "+61412345678",
    "central": "+61412345679",
    "office": "+27821234567",
    "smsc": "+79123456789",
}
"""A number each provider of the example config sends to."""
API_PATHS = {
    "broadcast": "/api-adv.php",
    "central": "/api/v3.2",
    "office": "/sms/api",
    "smsc": "/sys",
}


def spawn(command: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with open(out, "wb") as sink:
        return subprocess.Popen(command, env=env, stdout=sink, stderr=sink, cwd=out.parent)  # noqa: S603


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def journal_exists(folder: Path) -> bool:
    return (folder / "smsrouter.db").is_file()


async def wait_for_line(path: Path, process: subprocess.Popen[bytes], start: str) -> str:
    for _ in range(400):
        text = read(path)
        if any(line.startswith(start) for line in text.splitlines()):
            return text
        assert process.poll() is None, text
        await asyncio.sleep(0.05)
    raise AssertionError(f"no line starting {start!r}")


async def send_through_each(daemon: DaemonProcess) -> dict[str, str]:
    """One message through each provider, each reported delivered: provider -> message id."""
    ids = {}
    for provider, number in NUMBERS.items():
        body = {"to": number, "text": f"via {provider}", "providers": [provider]}
        status, sent = await daemon.request("POST", "/v1/messages", json=body)
        assert status == 200, sent
        assert sent["recipients"][0]["provider"] == provider, sent
        ids[provider] = sent["id"]

    async def reported() -> bool:
        for message_id in ids.values():
            _, record = await daemon.request("GET", f"/v1/messages/{message_id}")
            if record["recipients"][0]["delivery"] is None:
                return False
        return True

    await wait_until(reported)
    return ids


async def test_emulate_all_writes_a_config_whose_every_provider_sends_and_reports(
    tmp_path: Path, daemon_env: dict[str, str]
) -> None:
    # No callback secret given: emulate makes one up and writes it into the config.
    env = {k: v for k, v in daemon_env.items() if k != "SMSROUTER_CALLBACK_SECRET"}
    port = free_port()
    config, out = tmp_path / "smsrouter.toml", tmp_path / "emulate.out"
    command = [sys.executable, "-m", "router", "emulate", "all", "--write-config", str(config)]
    command += ["--daemon-listen", f"127.0.0.1:{port}"]
    emulate = spawn(command, env, out)
    try:
        shown = await wait_for_line(out, emulate, "wrote ")
        for provider, path in API_PATHS.items():
            (line,) = [x for x in shown.splitlines() if x.startswith(f"{provider} (")]
            assert line.split(": ", 1)[1].split()[0].endswith(path), line
        written = tomllib.loads(read(config))
        assert written["server"]["listen"] == f"127.0.0.1:{port}"
        assert sorted(written["providers"]) == sorted(NUMBERS)
        assert len(written["server"]["callback_secret"]) >= 20
        daemon = LoggedDaemon(config, env, tmp_path / "serve.log", port=port, cwd=tmp_path)
        await daemon.start()
        try:
            await send_through_each(daemon)
        finally:
            await daemon.finish()
        assert journal_exists(tmp_path)  # the example's journal, where the daemon runs
    finally:
        emulate.terminate()
        emulate.wait(10)


async def test_every_emulator_pushes_inbound_texts_to_its_own_provider(
    tmp_path: Path, daemon_env: dict[str, str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emulated = await start_emulators(read_example(), daemon=url, secret=SECRET)
    try:
        config = tmp_path / "smsrouter.toml"
        write_config(emulated.config, config, url)
        daemon = LoggedDaemon(config, daemon_env, tmp_path / "serve.log", port=port, cwd=tmp_path)
        await daemon.start()
        try:
            ids = await send_through_each(daemon)
            pushing = ("broadcast", "central", "smsc")  # SMS Office pushes no inbound texts
            for provider in pushing:
                emulator = emulated.emulators[provider]
                reply = emulator.push_reply(NUMBERS[provider], "61400000000", f"YES {provider}")
                await emulator.settle()
                assert reply.answers[-1:] == [200], (provider, reply)
            for provider in pushing:
                status, page = await daemon.request("GET", f"/v1/inbound?provider={provider}")
                assert status == 200
                assert [m["text"] for m in page["items"]] == [f"YES {provider}"], page
        finally:
            await daemon.finish()
        assert len(ids) == 4
    finally:
        await emulated.stop()


def test_the_written_config_reads_back_as_the_config_it_was_made_from() -> None:
    example: dict[str, Any] = read_example()
    assert tomllib.loads(toml_text(example, "a header\nof two lines")) == example
