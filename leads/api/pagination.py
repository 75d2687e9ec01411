"""Keyset ("cursor") pagination with a unique tie-breaker.

DRF's CursorPagination positions on the first ordering field only and falls back to offsets when
many rows share a value (thousands of leads score 0), which repeats rows and slows deep pages.
Here the cursor is the (value, id) of the last row, so every page is one index range scan.
"""

import base64
import json
from datetime import datetime

from django.db.models import Q
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


class KeysetPagination(BasePagination):
    default_ordering = "-created_at"
    ordering_fields: tuple[str, ...] = ("created_at",)
    page_size = 50
    max_page_size = 500
    cursor_query_param = "cursor"
    ordering_query_param = "ordering"

    def _ordering(self, request) -> str:
        ordering = request.query_params.get(self.ordering_query_param) or self.default_ordering
        if ordering.lstrip("-") not in self.ordering_fields:
            raise exceptions.ValidationError(
                {"ordering": [f"Choose one of: {', '.join(self.ordering_fields)} (prefix - for descending)."]}
            )
        return ordering

    def _limit(self, request) -> int:
        raw = request.query_params.get("limit")
        if raw is None:
            return self.page_size
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= self.max_page_size:
            raise exceptions.ValidationError({"limit": [f"Must be 1 to {self.max_page_size}."]})
        return limit

    @staticmethod
    def _encode(value, pk) -> str:
        if isinstance(value, datetime):
            value = {"dt": value.isoformat()}
        raw = json.dumps([value, pk]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode(cursor: str):
        try:
            value, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if isinstance(value, dict):
                value = datetime.fromisoformat(value["dt"])
            return value, int(pk)
        except (ValueError, TypeError, KeyError) as exc:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from exc

    def paginate_queryset(self, queryset, request, view=None):
        ordering = self._ordering(request)
        field = ordering.lstrip("-")
        descending = ordering.startswith("-")
        limit = self._limit(request)
        cursor = request.query_params.get(self.cursor_query_param)
        if cursor:
            value, pk = self._decode(cursor)
            op = "lt" if descending else "gt"
            queryset = queryset.filter(Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"id__{op}": pk}))
        tie = "-id" if descending else "id"
        rows = list(queryset.order_by(ordering, tie)[: limit + 1])
        self.has_more = len(rows) > limit
        rows = rows[:limit]
        self.next_url = None
        if self.has_more and rows:
            last = rows[-1]
            url = request.build_absolute_uri()
            self.next_url = replace_query_param(
                url, self.cursor_query_param, self._encode(getattr(last, field), last.pk)
            )
        return rows

    def get_paginated_response(self, data):
        return Response({"results": data, "has_more": self.has_more, "next": self.next_url})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "has_more", "next"],
            "properties": {
                "results": schema,
                "has_more": {"type": "boolean"},
                "next": {"type": "string", "format": "uri", "nullable": True},
            },
        }
