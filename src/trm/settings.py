"""Django settings for a TRM node, read from the environment.

Every value comes from an environment variable with a typed reader
(:mod:`trm.common.env`) that refuses a malformed value at start-up with a message
naming the variable. ``docs/configuration.md`` lists them all.
"""

from __future__ import annotations

import secrets
import zoneinfo
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from trm.common.env import (
    env_bool,
    env_choice,
    env_file,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    validate_country,
    validate_node_id,
)
from trm.common.tls import check_files as check_tls_files
from trm.common.tls import warn_if_key_exposed as warn_if_tls_key_exposed

django_stubs_ext.monkeypatch()

PACKAGE_DIR = Path(__file__).resolve().parent

# "development" relaxes what a production node must set explicitly (secret key,
# node identity, allowed hosts). It never switches off a protection.
TRM_ENV = env_choice("TRM_ENV", "production", ("production", "development"))
DEVELOPMENT = TRM_ENV == "development"
DEBUG = env_bool("TRM_DEBUG", default=DEVELOPMENT)
if DEBUG and not DEVELOPMENT:
    raise ImproperlyConfigured("TRM_DEBUG=1 is allowed only with TRM_ENV=development.")

DATA_DIR = Path(env_str("TRM_DATA_DIR", "var") or "var").resolve()

# Demo mode (``make demo``, trm.demo): ``trm demo seed`` gives its fictional
# users a known password and a pre-enrolled authenticator secret, printed as
# DEMO ONLY. Never in production.
TRM_DEMO = env_bool("TRM_DEMO", default=False)
if TRM_DEMO and not DEVELOPMENT:
    raise ImproperlyConfigured("TRM_DEMO=1 is allowed only with TRM_ENV=development.")


def _secret_key() -> str:
    key = env_secret("TRM_SECRET_KEY")
    if key:
        if len(key) < 32:
            raise ImproperlyConfigured("TRM_SECRET_KEY must be at least 32 characters.")
        return key
    if not DEVELOPMENT:
        raise ImproperlyConfigured(
            "TRM_SECRET_KEY (or TRM_SECRET_KEY_FILE) must be set in production. "
            "Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    # Development: a random key kept in the data directory, never a fixed default.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()

# --- Node identity ---------------------------------------------------------
TRM_NODE_ID = validate_node_id(
    "TRM_NODE_ID", env_str("TRM_NODE_ID", "dev-node" if DEVELOPMENT else None) or ""
)
TRM_COUNTRY = validate_country(
    "TRM_COUNTRY", env_str("TRM_COUNTRY", "BG" if DEVELOPMENT else None) or ""
)
TRM_NODE_NAME = env_str("TRM_NODE_NAME", f"TRM node {TRM_NODE_ID}")
TRM_SOP_VARIANT = env_str("TRM_SOP_VARIANT", "baseline") or "baseline"
# Days before a due date that a reminder is sent, for SOP steps whose definition
# sets no remind_days_before of its own.
TRM_REMINDER_DAYS_BEFORE = env_int("TRM_REMINDER_DAYS_BEFORE", 2)
# Days before a residence document or permit expires that the case managers are
# reminded to renew it (trm.care; a record may set its own).
TRM_RESIDENCE_RENEWAL_NOTICE_DAYS = env_int(
    "TRM_RESIDENCE_RENEWAL_NOTICE_DAYS", 30, minimum=0, maximum=365
)
# Hours after a return's expected arrival without the origin's confirmation
# before both nodes raise a missed-handover safety alert (trm.handover; SOPS
# §6.3 "confirm within 24 h" [INF]).
TRM_RETURN_ARRIVAL_ALERT_HOURS = env_float(
    "TRM_RETURN_ARRIVAL_ALERT_HOURS", 24.0, minimum=0.0, maximum=24.0 * 30
)

# The node's key-encryption key wraps every other data key (TOTP secrets now,
# per-person data keys later). From TRM_KEK (base64) or a file; see trm.common.keys.
TRM_KEK_FILE = Path(
    env_str("TRM_KEK_FILE", str(DATA_DIR / "keys" / "kek.b64")) or ""
).resolve()

ALLOWED_HOSTS = env_list(
    "TRM_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEVELOPMENT else []
)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "TRM_ALLOWED_HOSTS must list the host names this node answers to, "
        "comma-separated (e.g. trm.example.gov)."
    )
CSRF_TRUSTED_ORIGINS = env_list("TRM_CSRF_TRUSTED_ORIGINS", [])

# --- Applications ----------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "axes",
    "django_htmx",
    "django_countries",
    "ninja",
    "trm.common",
    "trm.audit",
    "trm.accounts",
    "trm.dataprotection",
    "trm.cases",
    "trm.consent",
    "trm.sop",
    "trm.screening",
    "trm.identification",
    "trm.directory",
    "trm.assistance",
    "trm.assessments",
    "trm.care",
    "trm.returns",
    "trm.handover",
    "trm.reintegration",
    "trm.referrals",
    "trm.proceedings",
    "trm.statistics",
    "trm.exchange",
    "trm.guidance",
    "trm.demo",
    "trm.demo_replay",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "trm.common.middleware.StaticFilesMiddleware",  # WhiteNoise
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "trm.common.middleware.NoStoreForSignedInMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "trm.accounts.middleware.IdleSessionTimeoutMiddleware",
    "trm.accounts.middleware.AccountGateMiddleware",
    "trm.common.middleware.DomainErrorMiddleware",
    "trm.common.middleware.APIMethodNotAllowedMiddleware",
    # django-axes must be last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "trm.urls"
WSGI_APPLICATION = "trm.wsgi.application"
ASGI_APPLICATION = "trm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trm.common.context_processors.node",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        _db = dict(dj_database_url.parse(_database_url, conn_max_age=60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid URL: {exc}") from None
    if _db.get("ENGINE") not in {
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    }:
        raise ImproperlyConfigured(
            "DATABASE_URL must be postgres://… or sqlite:///…; "
            f"got engine {_db.get('ENGINE')!r}."
        )
else:
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "trm.sqlite3",
    }
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: a writer takes the lock when its transaction starts, so two
    # writers queue instead of failing with "database is locked" mid-way.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["TEST"] = {"NAME": env_str("TRM_TEST_SQLITE_NAME")}


def _keystore_database() -> dict[str, object]:
    """Return the keystore database: separate from the main one (see dataprotection).

    ``TRM_KEYSTORE_URL`` if set; else beside an SQLite main database a file
    ``keys/keystore.sqlite3`` in the data directory; else ``<name>_keystore`` on
    the same PostgreSQL server.
    """
    url = env_str("TRM_KEYSTORE_URL")
    if url:
        try:
            keystore = dict(dj_database_url.parse(url, conn_max_age=60))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"TRM_KEYSTORE_URL is not a valid URL: {exc}"
            ) from None
    elif _db["ENGINE"] == "django.db.backends.sqlite3":
        keystore = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "keys" / "keystore.sqlite3",
        }
    else:
        keystore = {**_db, "NAME": f"{_db['NAME']}_keystore"}
        keystore.pop("TEST", None)
    if keystore["ENGINE"] == "django.db.backends.sqlite3":
        # secure_delete: SQLite zeroes freed content, so a destroyed data key
        # does not linger in free pages of the file.
        keystore["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA secure_delete = ON;",
        }
    return keystore


DATABASES = {"default": _db, "keystore": _keystore_database()}
DATABASE_ROUTERS = ["trm.dataprotection.router.KeystoreRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication ----------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Argon2id tuned for a 2-core server: see trm.accounts.hashers for the figures.
PASSWORD_HASHERS = [
    "trm.accounts.hashers.TRMArgon2PasswordHasher",
]
_VALIDATORS = "django.contrib.auth.password_validation."
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": _VALIDATORS + "UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "trm.accounts.validators.PasswordVarietyValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Lockout (django-axes): per username and client address.
AXES_FAILURE_LIMIT = env_int("TRM_LOCKOUT_FAILURES", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = env_int("TRM_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "trm.accounts.views.lockout_response"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# Sessions: idle expiry in trm.accounts.middleware; an absolute cap here.
TRM_SESSION_IDLE_MINUTES = env_int(
    "TRM_SESSION_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60
)
SESSION_COOKIE_AGE = env_int("TRM_SESSION_MAX_HOURS", 12, minimum=1, maximum=72) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
# Several nodes on one host (``make demo``: 127.0.0.1 on different ports) share
# cookies, which ignore the port: each needs its own cookie names.
SESSION_COOKIE_NAME = env_str("TRM_SESSION_COOKIE_NAME", "sessionid") or "sessionid"
CSRF_COOKIE_NAME = env_str("TRM_CSRF_COOKIE_NAME", "csrftoken") or "csrftoken"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
_https = env_bool("TRM_HTTPS", default=not DEVELOPMENT)
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
if _https:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

OTP_TOTP_ISSUER = f"TRM {TRM_NODE_ID}"

# --- Retention (ARCHITECTURE §4): case closure starts the clock ---------------
# Identity: a person whose cases have all been closed this long is erased by
# crypto-shredding (`trm dataprotection enforce-retention`).
TRM_RETENTION_IDENTITY_YEARS = env_int(
    "TRM_RETENTION_IDENTITY_YEARS", 5, minimum=1, maximum=100
)
# Notes and timeline details of a case closed this long are deleted.
TRM_RETENTION_NOTES_YEARS = env_int(
    "TRM_RETENTION_NOTES_YEARS", 5, minimum=1, maximum=100
)
# Informational: audit entries hold no personal data and are never deleted; this
# is the period the node's records policy states for them.
TRM_RETENTION_AUDIT_YEARS = env_int(
    "TRM_RETENTION_AUDIT_YEARS", 10, minimum=1, maximum=100
)

# --- Statistics (trm.statistics; docs/statistics.md) ---------------------------
# Disclosure control: a published count of persons above 0 and below this is
# suppressed (with its complements). At least 3: it cannot be switched off.
TRM_STATS_SUPPRESSION_THRESHOLD = env_int(
    "TRM_STATS_SUPPRESSION_THRESHOLD", 10, minimum=3, maximum=1000
)
# Regional statistics (stats.aggregate.request): the peer nodes this node answers
# with its disclosure-controlled tables, "*" for every active peer. Default
# none: sharing figures with another country is the controller's decision, so a
# node opts in; a peer not listed gets a "refused" response (audited).
TRM_STATS_SHARE_AGGREGATES = env_list("TRM_STATS_SHARE_AGGREGATES", [])

# --- Node-to-node exchange (trm.exchange; docs/exchange.md) ---------------------
# A message is accepted only if its sent_at is within this many seconds of now.
TRM_EXCHANGE_CLOCK_SKEW_SECONDS = env_int(
    "TRM_EXCHANGE_CLOCK_SKEW_SECONDS", 300, minimum=5, maximum=3600
)
# Failed deliveries before a message is declared dead (the NCPs are told).
TRM_EXCHANGE_MAX_ATTEMPTS = env_int(
    "TRM_EXCHANGE_MAX_ATTEMPTS", 20, minimum=1, maximum=1000
)
# Retry delay: min(cap, base · 2^attempts) with jitter; base is also the wait
# after a "retry later" (a message that arrived before its predecessor).
TRM_EXCHANGE_RETRY_BASE_SECONDS = env_int(
    "TRM_EXCHANGE_RETRY_BASE_SECONDS", 5, minimum=1, maximum=3600
)
TRM_EXCHANGE_RETRY_CAP_SECONDS = env_int(
    "TRM_EXCHANGE_RETRY_CAP_SECONDS", 3600, minimum=1, maximum=7 * 24 * 3600
)
# Seconds a POST to a peer may take.
TRM_EXCHANGE_TIMEOUT_SECONDS = env_int(
    "TRM_EXCHANGE_TIMEOUT_SECONDS", 10, minimum=1, maximum=300
)
# Seconds a worker holds a claimed message before another worker may take it
# (longer than the timeout: a worker that died mid-send is retried after it).
TRM_EXCHANGE_LEASE_SECONDS = env_int(
    "TRM_EXCHANGE_LEASE_SECONDS", 60, minimum=2, maximum=3600
)
# Largest message the inbox reads (bytes); a larger one is refused with 413.
TRM_EXCHANGE_MAX_BODY_BYTES = env_int(
    "TRM_EXCHANGE_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024, maximum=100 * 2**20
)
# Messages one worker sends at the same time (to different conversations).
# SQLite allows one writer at a time: one by default there.
TRM_EXCHANGE_CONCURRENCY = env_int(
    "TRM_EXCHANGE_CONCURRENCY",
    1 if str(DATABASES["default"]["ENGINE"]).endswith("sqlite3") else 8,
    minimum=1,
    maximum=64,
)
# Messages to one peer a worker sends together in one request (POST
# /exchange/v1/batch; 1 sends each alone), and the most the inbox accepts in one.
TRM_EXCHANGE_BATCH_SIZE = env_int("TRM_EXCHANGE_BATCH_SIZE", 25, minimum=1, maximum=100)
TRM_EXCHANGE_BATCH_MAX = env_int("TRM_EXCHANGE_BATCH_MAX", 100, minimum=1, maximum=1000)
# Mutual TLS with the peers' reverse proxies (docs/exchange.md, "TLS and client
# certificates"): the PEM certificate chain and private key this node presents
# when a peer's proxy asks for a client certificate (both or neither), and the
# PEM bundle of the CAs trusted for the peers' server certificates (e.g. the
# regional CA; unset: httpx's default authorities). Absolute paths, checked at
# start-up (trm.common.tls); a key file others may read is logged as a warning.
TRM_EXCHANGE_CLIENT_CERT_FILE = env_file("TRM_EXCHANGE_CLIENT_CERT_FILE")
TRM_EXCHANGE_CLIENT_KEY_FILE = env_file("TRM_EXCHANGE_CLIENT_KEY_FILE")
TRM_EXCHANGE_CA_FILE = env_file("TRM_EXCHANGE_CA_FILE")
check_tls_files(
    TRM_EXCHANGE_CLIENT_CERT_FILE, TRM_EXCHANGE_CLIENT_KEY_FILE, TRM_EXCHANGE_CA_FILE
)
warn_if_tls_key_exposed(TRM_EXCHANGE_CLIENT_KEY_FILE)
if TRM_EXCHANGE_LEASE_SECONDS <= TRM_EXCHANGE_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "TRM_EXCHANGE_LEASE_SECONDS must be longer than TRM_EXCHANGE_TIMEOUT_SECONDS."
    )

# --- Internationalisation ----------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("bg", _("Bulgarian")),
    ("ro", _("Romanian")),
]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
FORMAT_MODULE_PATH = ["trm.formats"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env_str("TRM_TIME_ZONE", "UTC") or "UTC"
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
    raise ImproperlyConfigured(
        f"TRM_TIME_ZONE must be an IANA time zone such as UTC or Europe/Sofia; "
        f"got {TIME_ZONE!r}."
    ) from None

# --- Guidance library (trm.guidance) -------------------------------------------
# Uploaded guidance files (not personal data: stored in plain files, served only
# as downloads). The largest file an editor may upload, in MiB.
TRM_GUIDANCE_DIR = DATA_DIR / "guidance"
TRM_GUIDANCE_MAX_UPLOAD_MB = env_int(
    "TRM_GUIDANCE_MAX_UPLOAD_MB", 20, minimum=1, maximum=500
)

# --- Static files --------------------------------------------------------------
STATIC_URL = "static/"
# Only `collectstatic` writes here (nothing needs it): the files are served
# from the package through the finders (trm.common.middleware.StaticFilesMiddleware).
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Mail ----------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "TRM_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEVELOPMENT
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("TRM_EMAIL_FROM", "trm@localhost")
# Where users reach this node (links in reminder e-mails, which carry no personal
# data: a case number, a step, a date and a link).
TRM_BASE_URL = (
    env_str("TRM_BASE_URL")
    or ("http://127.0.0.1:8000" if DEVELOPMENT else f"https://{ALLOWED_HOSTS[0]}")
).rstrip("/")

# --- Logging: no personal data; request bodies are never logged. -----------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "trm": {
            "level": env_choice(
                "TRM_LOG_LEVEL",
                "INFO",
                ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
            ),
            "propagate": True,
        },
        # django-axes logs usernames and addresses at WARNING; failures and
        # lockouts are audited instead (trm.accounts.signals).
        "axes": {"level": "ERROR"},
        "django.request": {"level": "ERROR"},
        # xhtml2pdf (subject-access PDF) quotes fragments of the document it
        # renders, i.e. a person's data, in its warnings: never log it.
        "xhtml2pdf": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}

# --- API -------------------------------------------------------------------------
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 200
