"""Settings, all read from the environment through typed helpers (csms.env).

With no DATABASE_URL / REDIS_URL the platform runs with nothing installed: SQLite, the
in-memory channel layer and eager Celery. With them: PostgreSQL, the Redis channel layer and a
Redis-brokered Celery. DEBUG is off unless asked for; with DEBUG off a SECRET_KEY is required.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from csms.env import (
    database_from_parts,
    database_from_url,
    env_bool,
    env_decimal,
    env_float,
    env_int,
    env_list,
    env_optional,
    env_str,
)
from csms.proxy import parse_networks

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "dev-insecure-secret-key-change-me-for-any-real-deployment"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
# Old keys still accepted while a rotation completes (sessions, station password hashes: a
# station hashed with one is rehashed with SECRET_KEY at its next login, csms.station_auth).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"] if DEBUG else ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csms",
    "ocpp_gateway",
    "billing",
    "wallet",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "csms.urls"
ASGI_APPLICATION = "csms.asgi.application"
WSGI_APPLICATION = None

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

# --- Database --------------------------------------------------------------------------------
# DATABASE_URL, else the POSTGRES_* parts (a password as it is, no URL encoding: what
# docker-compose passes), else SQLite.
DATABASE_URL = env_optional("DATABASE_URL")
if DATABASE_URL:
    _db = database_from_url(DATABASE_URL)
else:
    _db = database_from_parts() or {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(BASE_DIR / "db.sqlite3"),
    }
# Persistent connections: the gateway talks to the database for every frame, reconnecting each
# time would dominate its latency. Health checks drop a connection the server closed.
_db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 600, minimum=0)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"].endswith("sqlite3"):
    # WAL lets the admin read while the gateway writes; the timeout rides out short write locks.
    _db["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
_db.setdefault("TEST", {})
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Redis: channel layer, Celery broker -----------------------------------------------------
def redis_channel_layer(url: str) -> dict[str, object]:
    """The Redis channel layer's settings for ``url`` (tests build one for a proxy with it)."""
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 reads with a 5 s socket timeout by default, exactly channels_redis's
            # 5 s blocking BZPOPMIN: an idle receive timed out and killed its consumer (one
            # station dropped every 5 s per process). Keep the read timeout well above it.
            # A connect that hangs (Redis host unreachable) would hold a command's 503, and
            # the gateway's reconnect probe (ocpp_gateway.layer_watch), for the OS's TCP
            # timeout (minutes).
            "hosts": [{"address": url, "socket_timeout": 15, "socket_connect_timeout": 2}],
            # Stations stay connected for months; group memberships must not lapse after the
            # default day. Station routing does not use groups (see ocpp_gateway.calls), but
            # dashboards do.
            "group_expiry": 10 * 365 * 24 * 3600,
            "capacity": 1000,
            "expiry": 60,
            # Calls to stations travel whole in their ocpp.call events (an AuthorizationKey,
            # credentials in a firmware URL) while the database keeps them masked: Redis holds
            # only Fernet-encrypted messages (a key per entry; the first encrypts).
            "symmetric_encryption_keys": [SECRET_KEY, *SECRET_KEY_FALLBACKS],
        },
    }


REDIS_URL = env_optional("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache holds only throttling counters (csms.throttling): Redis, so every process shares
# them, or per-process memory without Redis. Short socket timeouts: a throttle check must never
# stall a handshake, and csms.throttling fails open when Redis is away.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", REDIS_URL is None)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "purge-message-log": {"task": "csms.tasks.message_log_purge", "schedule": 3600.0},
    "purge-station-history": {"task": "csms.tasks.station_history_purge", "schedule": 3600.0},
    "stale-commands": {"task": "ocpp_gateway.tasks.commands_time_out_stale", "schedule": 30.0},
    "dead-gateways": {"task": "ocpp_gateway.tasks.gateway_processes_reap", "schedule": 30.0},
    "expire-reservations": {"task": "ocpp_gateway.tasks.reservations_expire", "schedule": 60.0},
    "close-stale-sessions": {"task": "csms.tasks.transactions_close_stale", "schedule": 60.0},
    "billing-sweep": {"task": "billing.tasks.billing_sweep", "schedule": 60.0},
    "billing-retry": {"task": "billing.tasks.billing_failures_retry", "schedule": 60.0},
    "settle-orders": {"task": "wallet.tasks.orders_settle_sweep", "schedule": 60.0},
    # App starts with no StartTransaction by their deadline fail and release their holds.
    "app-sessions-expire": {"task": "wallet.tasks.app_sessions_expire", "schedule": 30.0},
}
# Billing policy: a session shorter than this many seconds that also delivered less than this
# many Wh is a free order (a driver who plugged in and changed their mind pays nothing).
BILLING_FREE_BELOW_SECONDS = env_int("BILLING_FREE_BELOW_SECONDS", 120, minimum=0)
BILLING_FREE_BELOW_WH = env_int("BILLING_FREE_BELOW_WH", 200, minimum=0)

# --- Driver wallet, payments and the app (wallet) ---------------------------------------------
# Every wallet is in the platform currency; money is Decimal at that currency's minor unit.
WALLET_CURRENCY = env_str("WALLET_CURRENCY", "EUR")
WALLET_TOP_UP_MIN = env_decimal("WALLET_TOP_UP_MIN", "5", minimum="0.01")
WALLET_TOP_UP_MAX = env_decimal("WALLET_TOP_UP_MAX", "500", minimum="0.01")
# Starting from the app: the wallet must hold at least WALLET_SESSION_MIN_BALANCE; the session
# then holds WALLET_SESSION_HOLD (capped by the balance). When the running cost comes within
# WALLET_HOLD_MARGIN of the hold, WALLET_HOLD_EXTENSION more is held (capped by the balance);
# when nothing is left to hold, the session is stopped remotely.
WALLET_SESSION_MIN_BALANCE = env_decimal("WALLET_SESSION_MIN_BALANCE", "5", minimum="0")
# Charging with a driver's RFID card holds nothing (the station starts before money is asked
# about): the card is refused (Blocked) while the wallet owes anything or has less than this.
WALLET_RFID_MIN_BALANCE = env_decimal("WALLET_RFID_MIN_BALANCE", "5", minimum="0")
WALLET_SESSION_HOLD = env_decimal("WALLET_SESSION_HOLD", "20", minimum="0.01")
WALLET_HOLD_MARGIN = env_decimal("WALLET_HOLD_MARGIN", "1", minimum="0")
WALLET_HOLD_EXTENSION = env_decimal("WALLET_HOLD_EXTENSION", "10", minimum="0.01")
# Seconds a station has, after accepting RemoteStartTransaction, to send StartTransaction
# (the driver plugging in) before the app session fails and its hold is released.
WALLET_START_TIMEOUT = env_int("WALLET_START_TIMEOUT", 180, minimum=10)
# "sandbox" (built in, no internet; the default) or "stripe" (needs STRIPE_SECRET_KEY and
# STRIPE_WEBHOOK_SECRET).
PAYMENT_PROVIDER = env_str("PAYMENT_PROVIDER", "sandbox")
# The sandbox credits wallets with money nobody paid, so with DEBUG off (production) it is
# off, its checkout page and webhook included, unless this says otherwise: a deployment that
# forgets PAYMENT_PROVIDER must not serve a free Pay button. True only for a trial without
# real customers (.env.example's local trial sets it).
PAYMENT_SANDBOX_ALLOWED = env_bool("PAYMENT_SANDBOX_ALLOWED", False)
# The sandbox signs its callbacks like a provider signs webhooks; empty derives a key from
# SECRET_KEY.
SANDBOX_WEBHOOK_SECRET = env_str("SANDBOX_WEBHOOK_SECRET", "")
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
# Public (pk_...): handed to the app with each PaymentIntent's client secret; optional.
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY", "")
# Seconds a webhook's signed timestamp may be old (Stripe's default tolerance is 300).
PAYMENT_WEBHOOK_TOLERANCE = env_int("PAYMENT_WEBHOOK_TOLERANCE", 300, minimum=1)
# Where the platform is reached from outside: QR codes and sandbox checkout links use it.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")
# The link of the app's password-reset e-mail ({uid} and {token} filled in): a universal /
# app link the driver app opens; it posts both to /api/v1/app/auth/password/reset/confirm/.
APP_PASSWORD_RESET_URL = env_str(
    "APP_PASSWORD_RESET_URL", PUBLIC_BASE_URL + "/app/password-reset?uid={uid}&token={token}"
)
# The seller on invoices (empty, as docker-compose passes an unset one: the example value).
INVOICE_SELLER_NAME = env_str("INVOICE_SELLER_NAME", "") or "Open CSMS Charging B.V."
INVOICE_SELLER_ADDRESS = (
    env_str("INVOICE_SELLER_ADDRESS", "") or "Example Street 1, 1000 AA Amsterdam"
)
INVOICE_SELLER_VAT_ID = env_str("INVOICE_SELLER_VAT_ID", "") or "NL000000000B01"
INVOICE_SELLER_EMAIL = env_str("INVOICE_SELLER_EMAIL", "") or "billing@example.com"
INVOICE_NUMBER_PREFIX = env_str("INVOICE_NUMBER_PREFIX", "INV")

# Files: invoices (and later firmware, diagnostics) in Django's storage; local by default.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

# E-mail (password resets): printed to the console unless an SMTP host is configured.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "no-reply@localhost")

# The app's tokens: short-lived access tokens, rotating refresh tokens (a used or logged-out
# refresh token is blacklisted).
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 30, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Not CHECK_REVOKE_TOKEN: it puts a digest of the password hash into every token, which
    # the app (and anyone holding a token) can read. A password change blacklists every
    # refresh token instead; access tokens then end within ACCESS_TOKEN_LIFETIME.
}

# --- Auth, API -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"
# Failed password log-ins allowed per window, per user name and per client address; past that
# the log-in is refused until the window ends (csms.authentication; 0 disables). Per address is
# higher: an office's operators may share one address.
AUTHENTICATION_BACKENDS = ["csms.authentication.ThrottledModelBackend"]
LOGIN_FAILURES_PER_USER = env_int("LOGIN_FAILURES_PER_USER", 5, minimum=0)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20, minimum=0)
LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 900, minimum=1)

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous requests 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["csms.permissions.IsStaffRole"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "csms.api.common.exception_handler",
    # Requests per client address (wallet.api.accounts.auth.AppAuthThrottle), on top of the failed
    # log-in limits of csms.authentication.
    "DEFAULT_THROTTLE_RATES": {
        "app_signup": env_str("APP_SIGNUP_RATE", "10/hour"),
        "app_login": env_str("APP_LOGIN_RATE", "20/min"),
        "app_password_reset": env_str("APP_PASSWORD_RESET_RATE", "5/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CSMS API",
    "DESCRIPTION": "OCPP 1.6J central system: stations, id tags, transactions, commands.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status" choice set; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "ConnectorStatusEnum": "csms.models.ChargePointStatus",
        "IdTagStatusEnum": "csms.models.IdTag.Status",
        "OrderStateEnum": "billing.models.Order.State",
        "TopUpStateEnum": "wallet.models.TopUp.State",
        "RefundStateEnum": "wallet.models.Refund.State",
        "JournalEntryKindEnum": "wallet.models.JournalEntry.Kind",
        "OrderLineKindEnum": "billing.models.OrderLine.Kind",
        "InvoiceKindEnum": "wallet.models.Invoice.Kind",
    },
}

# --- I18N, static ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Production safety -----------------------------------------------------------------------
# TLS is terminated by a reverse proxy (see README); trust its X-Forwarded-Proto.
# csms.proxy strips X-Forwarded-* from any peer outside TRUSTED_PROXIES (CIDRs), so both this
# and the client address it derives from X-Forwarded-For come only from our own proxies.
# Default: loopback, i.e. a proxy on the same host; behind a proxy elsewhere, name its network.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", ["127.0.0.1", "::1"])
parse_networks(TRUSTED_PROXIES)  # a typo stops start-up here, naming the variable
# Over plain HTTP with secure cookies a login fails its CSRF check: csms.csrf says why.
CSRF_FAILURE_VIEW = "csms.csrf.csrf_failure"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# --- OCPP ------------------------------------------------------------------------------------
# Unknown identities: accepted and registered on the fly (development), or refused and recorded
# as a ConnectionAttempt an operator can turn into a station in one step (production).
OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = env_bool("OCPP_ALLOW_UNKNOWN_CHARGE_POINTS", False)
OCPP_HEARTBEAT_INTERVAL = env_int("OCPP_HEARTBEAT_INTERVAL", 300, minimum=1)
OCPP_MESSAGE_LOG_RETENTION_DAYS = env_int("OCPP_MESSAGE_LOG_RETENTION_DAYS", 30, minimum=0)
OCPP_MESSAGE_LOG_ENABLED = env_bool("OCPP_MESSAGE_LOG_ENABLED", True)
# Retention of what stations leave behind besides the message log (0 keeps everything):
# refused handshakes, and status history (StatusNotification rows, firmware and diagnostics
# status events). Status history is kept longer: it is what availability reports read.
OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS = env_int(
    "OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS", 30, minimum=0
)
OCPP_STATUS_HISTORY_RETENTION_DAYS = env_int("OCPP_STATUS_HISTORY_RETENTION_DAYS", 90, minimum=0)
# Failed handshakes (any refusal) allowed per window, per source address and per identity;
# past that every handshake from it is refused unread until the window ends (0 disables).
# Per address is higher: several stations may share one address behind a NAT.
OCPP_AUTH_FAILURES_PER_ADDRESS = env_int("OCPP_AUTH_FAILURES_PER_ADDRESS", 30, minimum=0)
OCPP_AUTH_FAILURES_PER_IDENTITY = env_int("OCPP_AUTH_FAILURES_PER_IDENTITY", 10, minimum=0)
OCPP_AUTH_THROTTLE_WINDOW = env_int("OCPP_AUTH_THROTTLE_WINDOW", 60, minimum=1)
# Repeated refusals of one identity from one address with the same reason share one
# ConnectionAttempt row (count, last_at), written at most this often while throttled.
OCPP_CONNECTION_ATTEMPT_AGGREGATE_SECONDS = env_int(
    "OCPP_CONNECTION_ATTEMPT_AGGREGATE_SECONDS", 60, minimum=0
)
OCPP_COMMAND_TIMEOUT = env_float("OCPP_COMMAND_TIMEOUT", 30.0, minimum=0.1)
# A station whose clock is off by more than this many seconds is flagged (clock_skewed).
OCPP_CLOCK_SKEW_TOLERANCE = env_int("OCPP_CLOCK_SKEW_TOLERANCE", 300, minimum=1)
# A session whose connector has been reported Available for this long is closed as stale
# (StaleAvailable); 0 turns that rule off. Ten minutes covers stations that report Available
# before they send the StopTransaction (or flush it from their offline queue).
OCPP_STALE_SESSION_GRACE = env_int("OCPP_STALE_SESSION_GRACE", 600, minimum=0)
# Seconds between a gateway process's heartbeats; silent for three, it counts as dead and its
# stations go offline (ocpp_gateway.presence).
OCPP_GATEWAY_HEARTBEAT_INTERVAL = env_float("OCPP_GATEWAY_HEARTBEAT_INTERVAL", 10.0, minimum=0.1)
# Group commit: the longest a station's message waits for others to share its transaction.
OCPP_GROUP_COMMIT_MAX_BATCH = env_int("OCPP_GROUP_COMMIT_MAX_BATCH", 256, minimum=1)

_LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
_DJANGO_LOG_LEVEL = "INFO" if _LOG_LEVEL.upper() == "DEBUG" else _LOG_LEVEL
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
    "loggers": {
        # Django's default config gives "django" a console handler of its own: with ours on the
        # root, every django.request line (each 404, each 500) was printed twice. Propagate to
        # the root's handler only. (No AdminEmailHandler either: there are no ADMINS.)
        # Never below INFO: at DEBUG, django.db.backends prints every SQL statement.
        "django": {"handlers": [], "level": _DJANGO_LOG_LEVEL, "propagate": True},
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
