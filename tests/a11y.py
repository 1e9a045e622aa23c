"""Accessibility checks on rendered HTML that a unit test can make without a browser."""

from __future__ import annotations

import re

_ID = re.compile(r'(?<![\w-])id="([^"]+)"')  # not data-id="…"
_DESCRIBED_BY = re.compile(r'\baria-describedby="([^"]+)"')


def missing_described_by_targets(html: str) -> list[str]:
    """The ids that some element's aria-describedby names but that no element on the page has: a hint or an error
    message that a screen reader would never read out with its field (WCAG 1.3.1, 3.3.1)."""
    ids = set(_ID.findall(html))
    named = {ref for refs in _DESCRIBED_BY.findall(html) for ref in refs.split()}
    return sorted(named - ids)
