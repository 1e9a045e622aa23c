"""Text as the portal stores it, whichever way it came in."""

from __future__ import annotations

from typing import Any


def lf_line_breaks(value: Any) -> Any:
    """Text with a browser's CRLF (or a lone CR) line breaks as LF; anything else as it is. A page sends a textarea
    back with CRLF and the API with LF: stored and compared as LF, the same text is the same whichever way it came
    (else re-saving a page counts as a change, and can void an authorisation for nothing)."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value
