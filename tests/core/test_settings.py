import json
import secrets
import stat
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from imaging_portal.settings import env_bool, env_port, env_url, secret_key_from_file


def load_settings(env):
    return subprocess.run(
        [sys.executable, "-c", "import imaging_portal.settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "PORT must be an integer"),
        (
            "EMULATOR_PORT",
            "70000",
            "EMULATOR_PORT must be at least 1 and at most 65535",
        ),
        ("DJANGO_DEBUG", "ture", "DJANGO_DEBUG must be one of"),
        ("DJANGO_HTTPS", "maybe", "DJANGO_HTTPS must be one of"),
        ("DATABASE_URL", "mysqlx://db/portal", "DATABASE_URL has an unknown scheme"),
        ("HEALTHIMAGING_ENDPOINT_URL", "localhost:8765", "HEALTHIMAGING_ENDPOINT_URL"),
        ("REDIS_URL", "http://redis:6379", "REDIS_URL must be a redis/rediss URL"),
        ("DJANGO_LOG_LEVEL", "loud", "DJANGO_LOG_LEVEL"),
        (
            "DJANGO_SESSION_MAX_AGE_SECONDS",
            "12h",
            "DJANGO_SESSION_MAX_AGE_SECONDS must be an integer",
        ),
        (
            "DJANGO_TRUSTED_PROXY_COUNT",
            "-1",
            "DJANGO_TRUSTED_PROXY_COUNT must be at least 0",
        ),
        ("AXES_FAILURE_LIMIT", "0", "AXES_FAILURE_LIMIT must be at least 1"),
        ("AXES_COOLOFF_MINUTES", "soon", "AXES_COOLOFF_MINUTES must be an integer"),
        ("DJANGO_LOG_FORMAT", "xml", "DJANGO_LOG_FORMAT must be text or json"),
    ],
)
def test_settings_refuse_to_start_with_a_bad_value(portal_env, name, value, message):
    result = load_settings({**portal_env, name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_settings_start_with_no_configuration_at_all(portal_env):
    assert load_settings(portal_env).returncode == 0


def test_env_bool_accepts_the_usual_spellings(monkeypatch):
    for raw, expected in [("1", True), ("Yes", True), ("on", True), ("FALSE", False)]:
        monkeypatch.setenv("X_FLAG", raw)
        assert env_bool("X_FLAG", default=not expected) is expected


def test_env_port_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("X_PORT", raising=False)

    assert env_port("X_PORT", default=8000) == 8000


def test_env_port_rejects_zero(monkeypatch):
    monkeypatch.setenv("X_PORT", "0")

    with pytest.raises(ImproperlyConfigured, match="X_PORT must be at least 1"):
        env_port("X_PORT", default=8000)


def test_env_url_allows_empty_for_real_aws(monkeypatch):
    monkeypatch.setenv("X_URL", "")

    assert env_url("X_URL", default="", schemes={"http", "https"}) == ""


def test_secret_key_is_generated_once_private_and_reused(tmp_path):
    path = tmp_path / "var" / "secret-key"

    first = secret_key_from_file(path)
    second = secret_key_from_file(path)

    assert first == second
    assert len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret-key"]


def test_check_deploy_warns_about_insecure_cookies_without_the_https_flag(
    portal_env, manage_py
):
    env = {**portal_env, "DJANGO_SECRET_KEY": secrets.token_urlsafe(64)}

    result = subprocess.run(
        [*manage_py, "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "security.W012" in result.stdout + result.stderr


def test_production_settings_wire_lockout_csp_and_session_lifetime():
    from django.conf import settings

    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert "csp.middleware.CSPMiddleware" in settings.MIDDLEWARE
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_RESET_ON_SUCCESS is True
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.TRUSTED_PROXY_COUNT == 0
    script_src = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"]
    assert not any("unsafe" in source for source in script_src)
    assert settings.SESSION_MAX_AGE_SECONDS == 12 * 60 * 60


def test_json_logs_are_one_object_a_line_without_query_strings(portal_env, manage_py):
    line = '"GET /datastores/x/?property=patient_id&value=PAT-123 HTTP/1.1" 200'
    result = subprocess.run(
        [
            *manage_py,
            "shell",
            "-c",
            f"import logging; logging.getLogger('django.server').warning({line!r})",
        ],
        env={**portal_env, "DJANGO_LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    records = [json.loads(text) for text in result.stderr.splitlines() if text]
    [request] = [record for record in records if record["name"] == "django.server"]
    assert request["level"] == "WARNING"
    assert request["message"] == '"GET /datastores/x/?[redacted] HTTP/1.1" 200'
    assert "time" in request
    assert "PAT-123" not in result.stderr
