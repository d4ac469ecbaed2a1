import logging
import subprocess

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


def test_aws_libraries_never_log_requests_even_at_debug(
    portal_env, manage_py, healthimaging, browse_archive
):
    """At DEBUG botocore logs request parameters, which hold patient data."""
    datastore_id, _ = browse_archive
    canary = "CANARY-PATIENT-7Q2"
    script = (
        "from apps.healthimaging.gateway import get_gateway; "
        f"get_gateway().search_image_sets({datastore_id!r}, criteria={{'filters': "
        f"[{{'values': [{{'DICOMPatientId': {canary!r}}}], 'operator': 'EQUAL'}}]}})"
    )
    env = {
        **portal_env,
        "DJANGO_LOG_LEVEL": "DEBUG",
        "HEALTHIMAGING_ENDPOINT_URL": healthimaging.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    result = subprocess.run(
        [*manage_py, "shell", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert canary not in result.stdout + result.stderr
