"""HTTP hardening with production settings: Django's deploy checks pass (S1), and every
response of every URL, as every role, carries the security headers, keeps patient data out
of caches and sets its cookies with the right flags (S2).

Production is `DJANGO_HTTPS=true` (README, Configuration): the settings module is loaded
with and without it, and what it switches on is applied to this process, so the crawl runs
the settings production runs, not a copy of them kept here.
"""

import os
import re
import runpy
import secrets
import subprocess
from http.cookies import Morsel
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from apps.accounts import tokens
from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.audit.models import AuditEvent
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "imaging_portal" / "settings.py"
PASSWORD = "a long passphrase for the crawl"
ROLES = (None, VIEWER, EDITOR, ADMIN)
HSTS_MIN_SECONDS = 365 * 24 * 60 * 60
# The two ways production serves HTTPS: TLS at the portal, or at a proxy in front of it.
PRODUCTION = {
    "direct": {"DJANGO_HTTPS": "true"},
    "behind-a-tls-proxy": {
        "DJANGO_HTTPS": "true",
        "DJANGO_TRUST_X_FORWARDED_PROTO": "true",
        "DJANGO_TRUSTED_PROXY_COUNT": "1",
    },
}
# Every check production silences, and why (settings.py says the same).
SILENCED_BECAUSE = {
    "security.W021": "HSTS preload is hard to undo and binds every subdomain: the "
    "operator opts in with DJANGO_HSTS_PRELOAD=true",
}
# Sign-out ends the crawl's sessions: each role signs out once, last.
SIGN_OUT = {"logout", "admin:logout"}


def settings_module(env: dict[str, str]) -> dict[str, object]:
    """The names imaging_portal/settings.py defines when it starts with `env`."""
    with mock.patch.dict(os.environ, env, clear=True):
        return runpy.run_path(str(SETTINGS_FILE))


def production_env(portal_env: dict[str, str], shape: str) -> dict[str, str]:
    return {
        **portal_env,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "portal.example.org",
        **PRODUCTION[shape],
    }


@pytest.mark.parametrize("shape", PRODUCTION)
def test_check_deploy_reports_nothing_with_production_settings(
    portal_env, manage_py, shape, figure
):
    """Django's security checks, django-axes' wiring checks and django-csp's all pass."""
    env = production_env(portal_env, shape)

    result = subprocess.run(
        [*manage_py, "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reported = re.findall(r"\(([\w.]+\.([EW])\d+)\)", result.stdout + result.stderr)
    errors = sum(1 for _, level in reported if level == "E")
    warnings = sum(1 for _, level in reported if level == "W")
    silenced = settings_module(env)["SILENCED_SYSTEM_CHECKS"]

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert (errors, warnings) == (0, 0)
    assert set(silenced) <= set(SILENCED_BECAUSE), "a silenced check needs a reason"
    figure(
        "S1",
        f"check --deploy --fail-level WARNING, production {shape}: errors, warnings",
        f"{errors}, {warnings}",
    )
    figure(
        "S1",
        f"silenced check IDs, production {shape}",
        "; ".join(f"{check}: {SILENCED_BECAUSE[check]}" for check in silenced)
        or "none",
    )


# --- S2: the crawl -------------------------------------------------------------


@pytest.fixture
def production_settings(settings, portal_env) -> dict[str, object]:
    """Apply to this process what DJANGO_HTTPS (behind a TLS proxy) switches on."""
    env = production_env(portal_env, "behind-a-tls-proxy")
    plain = settings_module({**env, "DJANGO_HTTPS": "false"})
    production = settings_module(env)
    switched = {
        name: value
        for name, value in production.items()
        if name.isupper() and (name not in plain or plain[name] != value)
    }
    for name, value in switched.items():
        setattr(settings, name, value)
    return switched


def url_patterns(patterns=None, prefix=""):
    """(route, pattern) for every URL pattern of the URLconf, includes walked."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, route)
        else:
            assert isinstance(pattern, URLPattern)
            yield route, pattern


def fill(route: str, values: dict[str, str]) -> str:
    """The route with each of its parameters (path converters or regex groups) filled."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m[1]], route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m[1]], path)
    return "/" + path.replace("^", "").replace("$", "")


def admin_object_ids(*, user, token) -> dict[str, str]:
    """A real row of each model the Django admin lists, keyed `<app>_<model>` as its
    routes are; 0 for a table that stays empty (axes' failure log is off)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    def last(model) -> int:
        return model.objects.order_by("pk").values_list("pk", flat=True).last() or 0

    return {
        name: str(pk)
        for name, pk in {
            "auth_group": Group.objects.get(name=VIEWER).pk,
            "auth_user": user.pk,
            "axes_accessattempt": last(AccessAttempt),
            "axes_accesslog": last(AccessLog),
            "axes_accessfailurelog": last(AccessFailureLog),
            "accounts_apitoken": token.pk,
            "audit_auditevent": last(AuditEvent),
        }.items()
    }


def header_problems(response, *, signed_in: bool) -> list[str]:
    problems = []
    hsts = response.get("Strict-Transport-Security", "")
    max_age = re.search(r"max-age=(\d+)", hsts)
    if not max_age or int(max_age[1]) < HSTS_MIN_SECONDS:
        problems.append(f"HSTS max-age: {hsts!r}")
    if "includesubdomains" not in hsts.lower():
        problems.append(f"HSTS includeSubDomains: {hsts!r}")
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.get("Content-Security-Policy", "").split(";")
        if directive.strip()
    }
    for directive in ("object-src", "base-uri", "frame-ancestors"):
        if policy.get(directive) != ["'none'"]:
            problems.append(f"CSP {directive}: {policy.get(directive)}")
    scripts = policy.get("script-src", policy.get("default-src"))
    if not scripts or {"'unsafe-inline'", "'unsafe-eval'"} & set(scripts):
        problems.append(f"CSP script-src: {scripts}")
    if response.get("X-Content-Type-Options") != "nosniff":
        problems.append("nosniff")
    if not response.get("Referrer-Policy"):
        problems.append("Referrer-Policy")
    if not response.get("Cross-Origin-Opener-Policy"):
        problems.append("Cross-Origin-Opener-Policy")
    if signed_in and "no-store" not in response.get("Cache-Control", ""):
        problems.append(f"Cache-Control: {response.get('Cache-Control')!r}")
    return problems


def cookie_problems(morsel: Morsel, settings) -> list[str]:
    problems = []
    prefixed = {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME}
    if morsel.key in prefixed and not morsel.key.startswith("__Host-"):
        problems.append("no __Host- prefix")
    if morsel.key.startswith("__Host-") and (morsel["domain"] or morsel["path"] != "/"):
        problems.append("__Host- cookie with a domain or a path other than /")
    if not morsel["secure"]:
        problems.append("not Secure")
    if not morsel["samesite"]:
        problems.append("no SameSite")
    cleared = morsel["max-age"] == 0
    if morsel.key == settings.SESSION_COOKIE_NAME and not (
        cleared or morsel["httponly"]
    ):
        problems.append("session cookie not HttpOnly")
    return problems


@pytest.mark.django_db
def test_every_response_of_every_url_as_every_role_is_hardened(
    production_settings, settings, make_user, browse_archive, healthimaging, figure
):
    assert settings.SECURE_SSL_REDIRECT
    assert settings.SESSION_COOKIE_SECURE
    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    https = {"X-Forwarded-Proto": "https"}
    datastore_id, image_set_ids = browse_archive
    users = {role: make_user(role, password=PASSWORD) for role in ROLES if role}
    users[ADMIN].is_staff = True  # as `make demo` and an operator make admins
    users[ADMIN].save()
    token, _ = tokens.token_create(
        user=users[VIEWER], name="crawl", expires_in_days=None, request=None
    )
    edit = MetadataEdit.objects.create(
        requested_by=users[EDITOR],
        datastore_id=datastore_id,
        image_set_id=image_set_ids[0],
        base_version=1,
        changes=[],
        reason="crawl",
        status=MetadataEdit.Status.SUCCEEDED,
    )
    import_datastore = secrets.token_hex(16)
    healthimaging.store.create_datastore(
        name=f"crawl-{import_datastore}",
        client_token=import_datastore,
        status="ACTIVE",
        datastore_id=import_datastore,
    )
    job = get_gateway().start_dicom_import_job(
        import_datastore,
        job_name="crawl",
        data_access_role_arn="arn:aws:iam::123456789012:role/HealthImagingImport",
        input_s3_uri="s3://crawl-in/none/",
        output_s3_uri="s3://crawl-out/",
        client_token="crawl",
    )

    clients = {None: Client(headers=https)}
    # One failed sign-in, then each role signs in through the login page.
    clients[None].post(reverse("login"), {"username": VIEWER, "password": "wrong"})
    set_cookies: list[Morsel] = []
    for role in ROLES[1:]:
        clients[role] = Client(headers=https)
        signed_in = clients[role].post(
            reverse("login"), {"username": users[role].username, "password": PASSWORD}
        )
        assert signed_in.status_code == 302, role
        set_cookies += signed_in.cookies.values()
    values = {
        "datastore_id": datastore_id,
        "image_set_id": image_set_ids[0],
        "version": "1",
        "edit_id": str(edit.pk),
        "token_id": str(token.pk),
        "job_id": job.job_id,
        "id": str(users[EDITOR].pk),
        "content_type_id": str(ContentType.objects.get_for_model(MetadataEdit).pk),
        "app_label": "accounts",
        "url": "no-such-page/",
    }
    object_ids = admin_object_ids(user=users[EDITOR], token=token)
    schema = clients[ADMIN].get(reverse("api:schema"), {"format": "json"}).json()
    api_operations = {
        (resolve(re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)).route, method)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }

    routes = list(url_patterns())
    crawled_routes = set()
    requests = []  # (method, url)
    for route, pattern in routes:
        route_values = dict(values)
        if "job_id" in route or "import-jobs" in route or "imports" in route:
            route_values["datastore_id"] = import_datastore
        if route.startswith("admin/r/"):  # "view on site": any object of any model
            route_values["object_id"] = str(edit.pk)
        elif route.startswith("admin/") and ("object_id" in route or "<id>" in route):
            app, model = route.removeprefix("admin/").split("/")[:2]
            route_values["object_id"] = route_values["id"] = object_ids[
                f"{app}_{model}"
            ]
        url = fill(route, route_values)
        # Django's record of the route drops a regex's "^"; none is left out or mixed up.
        assert resolve(url).route == route.replace("^", ""), (route, url)
        crawled_routes.add(route)
        requests.append(("get", url))
        if pattern.name not in SIGN_OUT:
            requests.append(("post", url))

    failures = []
    responses = hardened = signed_in_responses = no_store = 0
    for method, url in requests + [("post", reverse(name)) for name in SIGN_OUT]:
        for role in ROLES:
            client = clients[role]
            response = getattr(client, method)(url)
            responses += 1
            problems = header_problems(response, signed_in=role is not None)
            hardened += not problems
            if role is not None:
                signed_in_responses += 1
                no_store += "no-store" in response.get("Cache-Control", "")
            failures += [(role, method, url, response.status_code, p) for p in problems]
            set_cookies += response.cookies.values()
            # The health check answers 503 while Redis (not started here) is down.
            if response.status_code >= 500 and url != reverse("core:healthz"):
                failures.append((role, method, url, response.status_code, "5xx"))
    cookie_failures = [
        (morsel.OutputString(), problems)
        for morsel in set_cookies
        if (problems := cookie_problems(morsel, settings))
    ]
    plain_http = [Client().get(url) for method, url in requests if method == "get"]
    redirected = [
        r
        for r in plain_http
        if r.status_code == 301 and r["Location"].startswith("https://")
    ]
    exempt = [r for r in plain_http if r.wsgi_request.path == reverse("core:healthz")]

    all_routes = {route for route, _ in routes}
    crawled_operations = {(resolve(url).route, method) for method, url in requests}
    assert crawled_routes == all_routes
    assert api_operations <= crawled_operations
    assert {route for route, _ in api_operations} == {
        route for route in all_routes if route.startswith("api/v1/")
    }
    assert failures == []
    assert cookie_failures == []
    assert len(redirected) == len(plain_http) - len(exempt)
    figure("S2", "responses crawled (GET and POST of every route, 4 roles)", responses)
    figure(
        "S2",
        "URL routes covered (URLconf, none left out)",
        f"{len(crawled_routes)}/{len(all_routes)}",
    )
    figure(
        "S2",
        "API operations of the OpenAPI schema crawled",
        f"{len(api_operations & crawled_operations)}/{len(api_operations)}",
    )
    figure(
        "S2",
        "responses with every security header (HSTS, CSP, nosniff, Referrer-Policy, COOP)",
        f"{hardened}/{responses} ({100 * hardened / responses:.0f}%)",
    )
    figure(
        "S2",
        "signed-in responses with Cache-Control no-store",
        f"{no_store}/{signed_in_responses}",
    )
    names = sorted({morsel.key for morsel in set_cookies})
    figure(
        "S2",
        "Set-Cookie headers with the right flags (__Host-, Secure, HttpOnly session, SameSite)",
        f"{len(set_cookies) - len(cookie_failures)}/{len(set_cookies)} "
        f"({', '.join(names)})",
    )
    figure(
        "S2",
        "plain-http GETs redirected to https (healthz exempt)",
        f"{len(redirected)}/{len(plain_http) - len(exempt)}",
    )
