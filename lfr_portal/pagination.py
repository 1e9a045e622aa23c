"""API pagination: `?limit=` and `?offset=`, 50 by default and at most MAX_LIMIT per page.

Without a ceiling, `?limit=100000000` returned a whole table (the audit log, every alert) in one response; the
audit log's bulk export is `audit/export.csv`, which is itself audited.
"""

from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 200


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT
