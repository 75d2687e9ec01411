from .api.permissions import user_roles


def roles(request):
    """The viewer's role names, for navigation: {"marketing", "sales", "admin"} or a subset."""
    return {"user_roles": user_roles(getattr(request, "user", None))}
