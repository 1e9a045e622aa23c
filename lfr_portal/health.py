"""Extra health checks that other apps register (broker, workers)."""

from __future__ import annotations

from collections.abc import Callable

CHECKS: dict[str, Callable[[], str]] = {}


def register(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def decorator(func: Callable[[], str]) -> Callable[[], str]:
        CHECKS[name] = func
        return func

    return decorator


def extra_checks() -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - a failing check is reported, not raised
            results[name] = f"error: {exc.__class__.__name__}"
    return results
