"""The same FastAPI + SQLAlchemy + requests scenario, run once with the official
opentelemetry-sdk and once with crosstrace as the tracer provider of the official
instrumentations, gives the same span names, kinds, statuses, attributes and parent links."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent


def run(mode: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, str(HERE / "compare_scenario.py"), mode],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_crosstrace_matches_the_official_sdk() -> None:
    sdk, ours = run("sdk"), run("crosstrace")
    assert len(sdk) >= 4, sdk  # server span (+ ASGI send/receive), SQL, HTTP client
    assert [s["name"] for s in ours] == [s["name"] for s in sdk]
    for a, b in zip(ours, sdk, strict=True):
        assert a == b, (a, b)
