"""``smsrouter demo --once`` runs the whole tour and exits 0."""

from __future__ import annotations

import asyncio
import os
import sys


async def test_demo_once_exits_zero() -> None:
    env = {**os.environ, "SMSROUTER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        "demo",
        "--once",
        "--listen",
        "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 0, text
    assert "FAIL" not in text
    for step in (
        "routing explained",
        "failover on an ERROR answer",
        "delivery reports came back",
        "inbound reply received",
        "metrics served",
        "demo-bad-1: refused with 400",
    ):
        assert f"[ok ] {step}" in text, text
