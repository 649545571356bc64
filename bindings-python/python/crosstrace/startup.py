"""The specification's startup module: ``startup_application`` and ``get_tracing_health``."""

from __future__ import annotations

from typing import Any

from ._api import TracingConfig, get_tracing_health, setup_tracing

__all__ = ["get_tracing_health", "startup_application"]


async def startup_application(config: TracingConfig | None = None) -> dict[str, Any]:
    """Configures tracing from the environment (or ``config``) at application start and
    returns the health report."""
    setup_tracing(config)
    return get_tracing_health()
