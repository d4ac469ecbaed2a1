"""How values read in a diff: text as text, anything else as JSON, null as "empty"."""

import json

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def diff_value(value: object) -> SafeString:
    """A value exactly as the document holds it, so that `1`, `"1"` and `["1"]` differ."""
    if value is None:
        return format_html('<em class="value--empty">{}</em>', "empty")
    if isinstance(value, str):
        if value == "":
            return format_html('<em class="value--empty">{}</em>', "empty text")
        return format_html("{}", value)
    return format_html(
        "<code>{}</code>",
        json.dumps(value, ensure_ascii=False, separators=(", ", ": ")),
    )
