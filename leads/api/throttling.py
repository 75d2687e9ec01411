from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per API key (or per signed-in user) request rate; over it the API answers 429 + Retry-After."""

    scope = "api_key"

    def get_rate(self) -> str:
        # Read at request time so operators (and tests) can change it without a restart of imports.
        return getattr(settings, "LEADQUAL_API_RATE", None) or super().get_rate()

    def get_cache_key(self, request, view):
        api_key = getattr(request, "auth", None)
        if getattr(api_key, "pk", None) and hasattr(api_key, "hashed_key"):
            ident = f"key{api_key.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
