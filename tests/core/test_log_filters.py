import logging

from apps.core.log_filters import RedactQueryStrings


def record(msg, *args):
    return logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, msg, args, None
    )


def test_redact_query_strings_hides_search_terms_in_request_lines():
    line = record(
        '"%s" %s %s', "GET /search?patient_id=PAT-1&name=Doe HTTP/1.1", 200, 5
    )

    RedactQueryStrings().filter(line)

    assert line.getMessage() == '"GET /search?[redacted] HTTP/1.1" 200 5'


def test_redact_query_strings_leaves_other_messages_alone():
    line = record("Did you mean %s?", "demo")

    assert RedactQueryStrings().filter(line) is True
    assert line.getMessage() == "Did you mean demo?"
    assert line.args == ("demo",)


def test_the_request_log_goes_through_the_redacting_filter():
    (console,) = [
        h for h in logging.getLogger("django.server").handlers if h.name == "console"
    ]

    assert any(isinstance(f, RedactQueryStrings) for f in console.filters)
