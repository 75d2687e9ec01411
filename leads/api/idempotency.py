"""Stripe's Idempotency-Key semantics for POST endpoints.

Same key and same body: the stored first response is replayed (with Idempotent-Replayed: true).
Same key, different body: 422. Same key while the first request still runs: 409. Keys are kept
for settings.IDEMPOTENCY_KEY_TTL_HOURS; 5xx responses are not stored, so a retry runs again.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response

from leads.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


def _owner(request) -> str:
    api_key = getattr(request, "auth", None)
    if hasattr(api_key, "hashed_key"):
        return f"key:{api_key.pk}"
    return f"user:{request.user.pk}"


def _claim(owner: str, key: str, method: str, path: str, request_hash: str):
    """Insert the record, or return the one that already holds this key (expired ones are freed)."""
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    owner=owner, key=key, method=method, path=path, request_hash=request_hash
                ), True
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if existing is None:
                continue
            ttl = timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
            if existing.created_at < timezone.now() - ttl:
                existing.delete()
                continue
            return existing, False
    raise RuntimeError("could not claim idempotency key")  # pragma: no cover - needs a 3-way race


def idempotent(view_method):
    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
            return Response(
                {
                    "detail": "Invalid Idempotency-Key.",
                    "errors": {"Idempotency-Key": [f"Must be 1 to {MAX_KEY_LENGTH} characters."]},
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        body = json.dumps(request.data, sort_keys=True, default=str)
        request_hash = hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()
        record, fresh = _claim(_owner(request), key, request.method, request.path, request_hash)
        if not fresh:
            if record.request_hash != request_hash:
                return Response(
                    {
                        "detail": "This Idempotency-Key was already used with a different request.",
                        "errors": {"Idempotency-Key": ["Keys must not be reused across requests."]},
                    },
                    status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                )
            if record.response_status is None:
                return Response(
                    {"detail": "A request with this Idempotency-Key is still being processed."},
                    status=status.HTTP_409_CONFLICT,
                )
            return Response(
                record.response_body,
                status=record.response_status,
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - turned into the API's error response, then stored
            response = self.handle_exception(exc)
        if response.status_code >= 500 or response.status_code == 429:
            record.delete()
        else:
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                response_status=response.status_code, response_body=response.data
            )
        return response

    return wrapper
