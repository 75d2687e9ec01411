from rest_framework.permissions import BasePermission

from leads.api.auth import IntegrationPrincipal

ROLES = ("marketing", "sales", "admin")


def user_roles(user) -> set[str]:
    if not user or not user.is_authenticated or isinstance(user, IntegrationPrincipal):
        return set()
    cached = getattr(user, "_leadqual_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        if user.is_superuser:
            cached.add("admin")
        user._leadqual_roles = cached
    return cached


class IngestOrRead(BasePermission):
    """API keys ingest and read; people with any role read and write leads' facts."""

    message = "Your account has no leadqual role (marketing, sales or admin)."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.user, IntegrationPrincipal):
            return True
        return bool(user_roles(request.user))


class HasRole(BasePermission):
    """Only people in one of the given role groups (API keys never)."""

    roles: tuple[str, ...] = ()

    def has_permission(self, request, view) -> bool:
        allowed = set(self.roles) | {"admin"}
        if user_roles(request.user) & allowed:
            return True
        self.message = f"This needs the {' or '.join(sorted(allowed))} role."
        return False


class IsMarketing(HasRole):
    roles = ("marketing",)


def require_roles(request, *roles: str) -> None:
    """For pages: a 403 with a message unless the user has one of the roles (admin always may)."""
    from django.core.exceptions import PermissionDenied

    if not user_roles(request.user) & (set(roles) | {"admin"}):
        raise PermissionDenied(f"This page needs the {' or '.join(roles)} role.")
