from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def words(value):
    """A stored key read as words: "no_budget" -> "no budget", "demo_request" -> "demo request"."""
    return str(value).replace("_", " ")
