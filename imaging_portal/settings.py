"""Imaging Portal settings: the one place configuration is read, from the environment.

Every variable has a safe demo default; `.env.example` lists them. A value that cannot
be parsed stops start-up with ImproperlyConfigured naming the variable.
"""

import datetime
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
import limits
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, *, default: bool) -> bool:
    """Parse a boolean strictly: DJANGO_DEBUG=ture is an error, not False."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}"
    )


def env_int(
    name: str, *, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ImproperlyConfigured(
            f"{name} must be at least {minimum}{upper}, got {value}"
        )
    return value


def env_port(name: str, *, default: int) -> int:
    return env_int(name, default=default, minimum=1, maximum=65535)


def env_url(name: str, *, default: str, schemes: set[str]) -> str:
    value = env.str(name, default=default).strip()
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "memory"):
        allowed = "/".join(sorted(schemes))
        raise ImproperlyConfigured(f"{name} must be a {allowed} URL, got {value!r}")
    return value


def secret_key_from_file(path: Path) -> str:
    """Return the key kept in `path`, creating it (mode 0600) on first use.

    The key is written to a private temporary file and hard-linked into place, so
    processes that start at the same moment all end up with the same, complete key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(get_random_secret_key())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(
            f"{path} is empty: delete it to generate a new secret key"
        )
    return key


# --- Core ---------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", default=False)

# Local state (SQLite database, secret key, static files, emulator data) lives here.
VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or secret_key_from_file(
    VAR_DIR / "secret-key"
)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "apps.core",
    "apps.healthimaging",
    "apps.imagesets",
    "apps.accounts",
    "apps.audit",
    "apps.edits",
    "apps.history",
    "apps.imports",
    "apps.api",
    "apps.emulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.audit.middleware.AuditRequestMiddleware",
    "apps.core.caching.PrivateNoStoreMiddleware",
    "apps.core.idle_sessions.IdleSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.accounts.sessions.AbsoluteSessionLifetimeMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "imaging_portal.urls"
WSGI_APPLICATION = "imaging_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_database_url = env.str(
    "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
)
if urlsplit(_database_url).scheme not in environ.Env.DB_SCHEMES:
    raise ImproperlyConfigured(
        f"DATABASE_URL has an unknown scheme: {urlsplit(_database_url).scheme!r}"
    )
DATABASES = {"default": env.db_url_config(_database_url)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web server and the worker share the file: WAL lets readers run beside a writer,
    # IMMEDIATE transactions wait for the write lock instead of failing with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # A file, not memory, so a test's `celery worker` processes share the test database.
    # Named per process, so two test runs at once do not share one.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test-portal-{os.getpid()}.sqlite3")
    }
else:
    # Two test runs at once (say CI and a developer) each get their own test database.
    DATABASES["default"]["TEST"] = {
        "NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
# django-axes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # also makes log timestamps UTC
USE_I18N = True
USE_TZ = True

# --- Static files (WhiteNoise) ------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security -----------------------------------------------------------------

# Always on: they do not get in the way of a plain-http demo.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_COOKIE_AGE", default=15 * 60, minimum=60)
# The age above is an idle timeout: apps.core.idle_sessions slides it on every request a
# person makes, but not on background polls.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# However active, a session ends this long after sign-in (apps.accounts.sessions).
SESSION_MAX_AGE_SECONDS = env_int(
    "DJANGO_SESSION_MAX_AGE_SECONDS", default=12 * 60 * 60, minimum=60
)
CSRF_COOKIE_SAMESITE = "Lax"
# Messages ("token revoked", "session ended") wait in the session, not in a cookie of their
# own: Django's message cookie has no __Host- prefix and is cleared without Secure.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Served over HTTPS (directly or behind a TLS-terminating proxy): every transport flag
# on. Off by default: the demo runs on http://127.0.0.1, where Secure cookies fail.
HTTPS = env_bool("DJANGO_HTTPS", default=False)
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probes speak plain http inside the host
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # With the __Host- prefix browsers refuse a cookie unless Secure, host-only, path=/
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", default=365 * 24 * 60 * 60)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
    if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy (django-csp 4): scripts and styles only from this site's own
# files, no inline code, no eval; htmx is configured in base.html to need neither.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# How many reverse proxies in front of the portal append to X-Forwarded-For. 0: none, so
# the client's address is REMOTE_ADDR and X-Forwarded-For (which anyone can write) is ignored.
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", default=0, maximum=10)

# Failed sign-ins (django-axes): locked per username and address together, so nobody can
# lock a colleague out from elsewhere; lifted after the cool-off or a successful sign-in.
# Always on, tests included: Client.login() must pass `request=HttpRequest()`, or use
# force_login (the sign-in tests go through the login page itself).
AXES_ENABLED = True
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(
    minutes=env_int("AXES_COOLOFF_MINUTES", default=15, minimum=1)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "apps.accounts.lockout.locked_out"
AXES_CLIENT_IP_CALLABLE = "apps.accounts.client_ip.client_ip_address"
# Used by django-ipware only if the callable above is ever removed: the same rule.
AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if TRUSTED_PROXY_COUNT else ("REMOTE_ADDR",)
)

SILENCED_SYSTEM_CHECKS = []
if HTTPS and not SECURE_HSTS_PRELOAD:
    # W021 asks for HSTS preload. Joining the browsers' preload list is hard to undo and
    # binds every subdomain: the operator decides, DJANGO_HSTS_PRELOAD=true opts in.
    SILENCED_SYSTEM_CHECKS.append("security.W021")

# --- HealthImaging ------------------------------------------------------------

AWS_REGION = env.str("AWS_REGION", default="us-east-1")
if not AWS_REGION.strip():
    raise ImproperlyConfigured("AWS_REGION must not be empty")
# Empty means real AWS; set it to the emulator's URL for the demo and tests.
HEALTHIMAGING_ENDPOINT_URL = env_url(
    "HEALTHIMAGING_ENDPOINT_URL", default="", schemes={"http", "https"}
)
# Connect and read timeout of each HealthImaging call, in seconds.
HEALTHIMAGING_TIMEOUT_SECONDS = env.float("HEALTHIMAGING_TIMEOUT_SECONDS", default=10.0)
if not 0 < HEALTHIMAGING_TIMEOUT_SECONDS <= 300:
    raise ImproperlyConfigured(
        "HEALTHIMAGING_TIMEOUT_SECONDS must be between 0 and 300"
    )

# --- Celery -------------------------------------------------------------------

REDIS_URL = env_url(
    "REDIS_URL", default="redis://127.0.0.1:6379/0", schemes={"redis", "rediss"}
)
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", default=REDIS_URL, schemes={"redis", "rediss", "memory"}
)
CELERY_TASK_ALWAYS_EAGER = False  # tasks run in a worker, as in production
CELERY_TASK_IGNORE_RESULT = True  # job state lives in our own tables
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The longest one step of a job may run (each step makes one HealthImaging call); at the
# soft limit the step stops cleanly and waits for its next turn.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", default=120, minimum=4)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT * 3 // 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Unacknowledged messages go back to the queue after this; it must exceed the longest task
# (time limit) plus the longest countdown (EDIT_POLL_MAX_SECONDS), and it bounds how long a
# killed worker's job waits before another worker takes it.
CELERY_VISIBILITY_TIMEOUT = env_int(
    "CELERY_VISIBILITY_TIMEOUT", default=300, minimum=2 * CELERY_TASK_TIME_LIMIT
)
if (
    CELERY_VISIBILITY_TIMEOUT < 2 * CELERY_TASK_TIME_LIMIT
):  # the default, with a long limit
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must be at least twice CELERY_TASK_TIME_LIMIT "
        f"({2 * CELERY_TASK_TIME_LIMIT}); it is {CELERY_VISIBILITY_TIMEOUT}"
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_timeout": 10,
    "health_check_interval": 25,
}
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 30
# A broker drop must not leave a running job running twice; the reconciler re-drives it.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Metadata edits -----------------------------------------------------------

# How long an edit may wait for its image set to settle (LOCKED, throttled, unreachable)
# before it stops as "still locked, check again".
EDIT_DEADLINE_SECONDS = env_int("EDIT_DEADLINE_SECONDS", default=15 * 60, minimum=1)
# Checks of an image set follow a growing delay: the time waited so far, within these bounds.
EDIT_POLL_FIRST_SECONDS = env.float("EDIT_POLL_FIRST_SECONDS", default=2.0)
EDIT_POLL_MAX_SECONDS = env.float("EDIT_POLL_MAX_SECONDS", default=30.0)
if not 0 < EDIT_POLL_FIRST_SECONDS <= EDIT_POLL_MAX_SECONDS <= 60:
    raise ImproperlyConfigured(
        "EDIT_POLL_FIRST_SECONDS and EDIT_POLL_MAX_SECONDS must satisfy 0 < first <= max <= 60"
    )
# UpdateImageSetMetadata calls allowed across all workers: HealthImaging's default quota is
# 0.25 per second with a burst of 1. Syntax of the `limits` library: "1 per 4 seconds".
HEALTHIMAGING_UPDATE_RATE = env.str(
    "HEALTHIMAGING_UPDATE_RATE", default="1 per 4 seconds"
)
try:
    _update_rate = limits.parse(HEALTHIMAGING_UPDATE_RATE)
except ValueError:
    raise ImproperlyConfigured(
        f"HEALTHIMAGING_UPDATE_RATE must read like '1 per 4 seconds', got {HEALTHIMAGING_UPDATE_RATE!r}"
    ) from None
# Where the shared limiter keeps its window: Redis, so every worker sees the same one.
EDIT_RATE_LIMIT_STORAGE_URL = env.str("EDIT_RATE_LIMIT_STORAGE_URL", default=REDIS_URL)
# The reconciler (Celery beat) re-drives edits whose next check is this late.
EDIT_RECONCILE_INTERVAL_SECONDS = env_int(
    "EDIT_RECONCILE_INTERVAL_SECONDS", default=60, minimum=1
)
EDIT_RECONCILE_GRACE_SECONDS = env_int(
    "EDIT_RECONCILE_GRACE_SECONDS", default=60, minimum=1
)
CELERY_BEAT_SCHEDULE = {
    "reconcile-edits": {
        "task": "apps.edits.tasks.reconcile_edits",
        "schedule": float(EDIT_RECONCILE_INTERVAL_SECONDS),
    }
}

# --- Demo (`manage.py demo`) --------------------------------------------------

DEMO_PORT = env_port("PORT", default=8000)
DEMO_EMULATOR_PORT = env_port("EMULATOR_PORT", default=8765)
# The demo's own Redis listens here when REDIS_URL is not set.
DEMO_REDIS_PORT = env_port("REDIS_PORT", default=6379)
# The demo account's password; when unset the demo makes a random one and keeps it in var/.
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="")

# --- Logging ------------------------------------------------------------------

# Console only; messages, never request bodies, and URLs without their query strings
# (search terms may be patient data).
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"DJANGO_LOG_LEVEL must be a logging level name, got {LOG_LEVEL!r}"
    )
_LIBRARY_LOG_LEVEL = "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL
# "json": one JSON object per line, for a log shipper; "text" for people at a terminal.
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(
        f"DJANGO_LOG_FORMAT must be text or json, got {LOG_FORMAT!r}"
    )
_LOG_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "console": {
            "format": _LOG_FIELDS,
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            **(
                {
                    "()": "pythonjsonlogger.json.JsonFormatter",
                    "rename_fields": {"asctime": "time", "levelname": "level"},
                }
                if LOG_FORMAT == "json"
                else {}
            ),
        },
    },
    "filters": {
        "redact_query_strings": {"()": "apps.core.log_filters.RedactQueryStrings"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "console",
            "filters": ["redact_query_strings"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default mails request details to admins; the console replaces it.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {
            "handlers": ["console"],
            "level": LOG_LEVEL,
            "propagate": False,
        },
        # At DEBUG these log patient data: request parameters and bodies (the AWS SDK),
        # SQL parameters (django.db.backends), and a failed template lookup's whole
        # context (django.template). Never below INFO.
        **{
            name: {"level": _LIBRARY_LOG_LEVEL}
            for name in (
                "botocore",
                "boto3",
                "urllib3",
                "s3transfer",
                "django.db.backends",
                "django.template",
            )
        },
    },
}

# --- Django REST framework ----------------------------------------------------

REST_FRAMEWORK = {
    # The token first: it names its scheme (WWW-Authenticate), so a request without
    # credentials is answered 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.api.throttling.PerUserRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.errors.exception_handler",
}

# Per-user API rate limits (moving windows in Redis, shared by every web process): reads,
# and writes (edits, reverts, re-applies). Over the limit a client gets 429 with Retry-After.
API_READ_RATE = env.str("API_READ_RATE", default="300 per minute")
API_WRITE_RATE = env.str("API_WRITE_RATE", default="30 per minute")
API_RATE_LIMIT_STORAGE_URL = env.str("API_RATE_LIMIT_STORAGE_URL", default=REDIS_URL)

SPECTACULAR_SETTINGS = {
    "TITLE": "Imaging Portal API",
    "DESCRIPTION": (
        "Search AWS HealthImaging image sets, read their metadata and versions, queue "
        "metadata edits and reverts and follow them, and read the audit log: everything "
        "the dashboard does, with the same roles. Authenticate with a personal API token "
        "(`Authorization: Bearer hip_...`, made on the API tokens page) or a signed-in "
        "session. Every error is JSON with a stable `code` and a `message` for people."
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its documentation are for signed-in users only (ASVS 13.4.5).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "EditStatus": "apps.edits.models.MetadataEdit.Status",
        "AuditAction": "apps.audit.models.AuditEvent.Action",
        "EditKind": ["edit", "revert"],
        "LevelKind": "apps.history.diff.LevelKind",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False},
}
