"""Bearer API keys for integrations. Keys may ingest and read; they act as no user."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from leads.models import ApiKey
from leads.services import hash_api_key


class IntegrationPrincipal:
    """request.user for a request made with an API key."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.pk = None
        self.id = None
        self.username = f"api:{api_key.name}"

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm, obj=None) -> bool:  # noqa: ARG002 - Django's signature
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <api key>'.")
        try:
            secret = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("The API key contains invalid characters.") from exc
        try:
            # get(), not first(): the hash is unique, and first() would add an ORDER BY.
            key = ApiKey.objects.get(hashed_key=hash_api_key(secret))
        except ApiKey.DoesNotExist as exc:
            raise exceptions.AuthenticationFailed("Invalid API key.") from exc
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        now = timezone.now()
        # At most one write a minute per key: last_used_at is for humans, not an audit log.
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return IntegrationPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
