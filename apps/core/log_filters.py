"""Logging filters that keep patient data out of the console log."""

import logging
import re

# A path followed by a query string, as in `"GET /search?patient_id=123 HTTP/1.1"`.
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")


class RedactQueryStrings(logging.Filter):
    """Replace query strings in request log lines: they may carry search terms (PHI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _QUERY.sub(r"\1?[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
