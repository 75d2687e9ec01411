"""The one check that a serving process has a real secret key (see SECRET_KEY in settings.py)."""

from django.core.exceptions import ImproperlyConfigured

MESSAGE = "DJANGO_SECRET_KEY is not set. Set it to a long random value (or DJANGO_DEBUG=1 for local work)."


def require_secret_key() -> None:
    from django.conf import settings

    try:
        settings.SECRET_KEY  # noqa: B018 - Django raises on an empty key when it is read
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(MESSAGE) from exc
