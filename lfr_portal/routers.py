"""The API's router: a record's URL takes its id, digits only, unless its viewset names its own lookup pattern."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter


class IdRouter(SimpleRouter):
    """Anything but digits in an id is a 404 from the URL resolver, not a 500 from int() in a lookup (a viewset
    looking records up by another field, such as a public reference, sets `lookup_value_regex`)."""

    def __init__(self) -> None:
        super().__init__()
        self._default_value_pattern = "[0-9]+"
