"""LFR Portal settings: one module, every deploy-specific value from the environment (see .env.example)."""

import warnings
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# face_recognition_models still imports pkg_resources (hence setuptools<81 in requirements.txt); its deprecation
# notice is not actionable here and would otherwise open every command's output.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Everything the embedded (server-less) set-up writes lives here: SQLite, the filesystem broker, media.
VAR_DIR = Path(env("LFR_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set unless DJANGO_DEBUG=1.")
    SECRET_KEY = "insecure-development-key-only-used-with-DJANGO_DEBUG"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",  # user API tokens, stored as digests (docs/api.md)
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "django_htmx",
    "compliance",
    "matching",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "lfr_portal.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "lfr_portal.middleware.ApiTrailingSlashMiddleware",  # before CommonMiddleware's slash redirect
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "lfr_portal.middleware.ActorMiddleware",
    "lfr_portal.middleware.RequireSecondFactorMiddleware",
    "lfr_portal.middleware.RequirePasswordChangeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "lfr_portal.middleware.ApiErrorMiddleware",
    # Last, so that a lock-out raised by authentication is turned into our lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lfr_portal.urls"
WSGI_APPLICATION = "lfr_portal.wsgi.application"

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
                "lfr_portal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file: wait for the write lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections: opening one per request (and, in the workers, per frame task) starts a PostgreSQL
# backend process every time, which costs more than most of the queries it serves. Django re-checks a reused
# connection before each request or task (CONN_HEALTH_CHECKS) and drops it after LFR_DB_CONN_MAX_AGE seconds;
# `?conn_max_age=` in DATABASE_URL wins. 0 restores a connection per request.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("LFR_DB_CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# The per-frame statements (lfr_portal/rawsql.py) run as prepared statements on PostgreSQL. Turn this off behind a
# connection pooler in transaction mode that does not support them (PgBouncer before 1.21).
LFR_DB_PREPARED_STATEMENTS = env.bool("LFR_DB_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and LFR_DB_PREPARED_STATEMENTS:
    # psycopg prepares a server-binding cursor's statement at its first run. Django's own cursors bind on the
    # client and are never prepared, whatever this says.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "compliance.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions expire; cookies are Secure outside debug and never readable from JavaScript.
SESSION_COOKIE_AGE = env.int("LFR_SESSION_SECONDS", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_COOKIES = env.bool("LFR_SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("LFR_SSL_REDIRECT", default=False)
# A load balancer probes the health checks over plain HTTP inside the network: a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz(/web)?$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("LFR_BEHIND_TLS_PROXY", False) else None
SECURE_HSTS_SECONDS = env.int("LFR_HSTS_SECONDS", default=0)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Lock an account after repeated failures (per username, so one attacker cannot lock a whole NAT'd office).
AXES_FAILURE_LIMIT = env.int("LFR_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LFR_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("LFR_TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False
MEDIA_ROOT = Path(env("LFR_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"  # media holds biometric images: only served through audited views
# One request's uploads, all files together (and, as Django's own limit, its form fields): refused past this.
LFR_MAX_UPLOAD_BYTES = env.int("LFR_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = LFR_MAX_UPLOAD_BYTES
# Files per request; more is refused as a whole with "send a zip" (a zip holds up to LFR_MAX_ZIP_FILES images).
LFR_MAX_UPLOAD_FILES = env.int("LFR_MAX_UPLOAD_FILES", default=100)
DATA_UPLOAD_MAX_NUMBER_FILES = LFR_MAX_UPLOAD_FILES
# Uploads stay in memory, never in a temporary file (lfr_portal/uploads.py): they are biometric images.
FILE_UPLOAD_HANDLERS = ["lfr_portal.uploads.MemoryUploadHandler"]

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://lfr")}

# User API tokens (django-rest-knox): only a SHA-512 digest is stored, each token expires, and the prefix lets a
# secret scanner recognise one that leaked.
LFR_API_TOKEN_DAYS = env.int("LFR_API_TOKEN_DAYS", default=90)
if LFR_API_TOKEN_DAYS < 1:
    raise ImproperlyConfigured("LFR_API_TOKEN_DAYS must be 1 or more: a user API token must expire, and not at once.")
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=LFR_API_TOKEN_DAYS),
    "AUTO_REFRESH": False,
    "TOKEN_PREFIX": "lfrapi_",
    "AUTH_HEADER_PREFIX": "Token",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an unauthenticated client gets 401 with a WWW-Authenticate challenge.
        "compliance.api.authentication.UserTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # A real portal user: camera units (Authorization: Camera ...) may only reach the frame endpoint.
    "DEFAULT_PERMISSION_CLASSES": ["compliance.api.permissions.IsPortalUser"],
    # JSON in, except where a view takes an upload and says so (frames, watch-list images). A form-encoded body
    # cannot tell a boolean it leaves out from `false` (DRF reads an absent checkbox as unchecked): an
    # engagement would be recorded "not located", an account deactivated.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "lfr_portal.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "lfr_portal.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LFR Portal API",
    "DESCRIPTION": (
        "Deployment authorisation, watch-list governance, live matching and audit for live facial recognition."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One stable name per choice set that several fields share (without these, "CategoryEnum" and a hashed
    # "Status5a6Enum" that would change whenever another status enum appears).
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "compliance.choices.Role",
        "WatchlistCategoryEnum": "compliance.choices.WatchlistCategory",
        "CalibrationStatusEnum": "matching.models.calibration.CalibrationStatus",
    },
}

# Celery: Redis in production and CI; without CELERY_BROKER_URL a filesystem broker that needs no server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
_broker_dir = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem"):
    for _sub in ("queue", "control", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The filesystem transport polls; the default second would add up to a second to every live frame.
        "polling_interval": 0.1,
    }
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=f"file://{VAR_DIR / 'results'}")
    (VAR_DIR / "results").mkdir(parents=True, exist_ok=True)
else:
    # The visibility timeout must exceed the longest task time limit, or Redis redelivers running tasks.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("LFR_VISIBILITY_TIMEOUT", default=3600),
        # Off only on workers that consume the matching queue alone (lfr_portal/celery.py turns it back on for any
        # other worker): a frame's message is worth nothing once it is older than the live budget.
        "ack_emulation": env.bool("LFR_BROKER_ACK_EMULATION", default=True),
    }
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = timedelta(hours=1)
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LFR_LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- LFR governance policy (domain.md). Defaults are the spec's; a force may tighten them. ---
LFR_FORCE_NAME = env("LFR_FORCE_NAME", default="Demo Constabulary")
LFR_JURISDICTION = env("LFR_JURISDICTION", default="uk")  # "uk" or "eu"
LFR_MIN_AUTHORISING_RANK = env("LFR_MIN_AUTHORISING_RANK", default="superintendent")
# Administrators too: they create accounts, so a password alone would be enough to mint an Authorising Officer.
LFR_SECOND_FACTOR_ROLES = env.list("LFR_SECOND_FACTOR_ROLES", default=["authorising_officer", "dpo", "administrator"])
# Appointments to these roles take two Administrators: one proposes, another approves (nobody can mint an
# Authorising Officer, a DPO or another Administrator alone). Other roles are granted at once.
LFR_APPROVED_ROLES = env.list("LFR_APPROVED_ROLES", default=["administrator", "authorising_officer", "dpo"])
LFR_REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
# We lock the *account* (domain.md 1: "failed logins are throttled and locked out"), which is what axes warns
# about; per-IP lock-out would let one attacker lock out a whole police station behind one NAT address.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# --- Deployments (domain.md 2): window length, authorisation validity, policy threshold, public-notice lead time.
LFR_MAX_WINDOW_HOURS = env.int("LFR_MAX_WINDOW_HOURS", default=12)
LFR_MAX_VALIDITY_DAYS = env.int("LFR_MAX_VALIDITY_DAYS", default=28)
LFR_POLICY_THRESHOLD = env.float("LFR_POLICY_THRESHOLD", default=0.6)  # face_recognition distance; lower is stricter
LFR_PUBLIC_NOTICE_HOURS = env.int("LFR_PUBLIC_NOTICE_HOURS", default=24)
CELERY_BEAT_SCHEDULE["complete-finished-deployments"] = {
    "task": "compliance.tasks.complete_finished_deployments",
    "schedule": 60.0,
    "options": {"expires": 55},
}

# Fernet keys for biometric data at rest, newest first (compliance/crypto.py). The development default is
# only accepted with DJANGO_DEBUG=1 or under the test suite's explicit setting.
LFR_ENCODING_KEYS = env.list("LFR_ENCODING_KEYS", default=[])
if not LFR_ENCODING_KEYS and DEBUG:
    LFR_ENCODING_KEYS = ["ZGV2ZWxvcG1lbnQtb25seS1rZXktbm90LWZvci11c2U="]

# --- Matcher engine (domain.md 9): detection and encoding settings. Changing any of them makes calibrations stale.
LFR_DETECTOR = env("LFR_DETECTOR", default="hog")  # "hog" (CPU, fast) or "cnn" (about 2.4 s per frame on CPU)
LFR_UPSAMPLE = env.int("LFR_UPSAMPLE", default=0)  # times to upsample before detecting (finds smaller faces, slower)
LFR_NUM_JITTERS = env.int("LFR_NUM_JITTERS", default=1)  # re-samples per encoding (more is slower, slightly steadier)
LFR_ENCODING_MODEL = env("LFR_ENCODING_MODEL", default="large")  # landmark model: "large" (68 points) or "small"
LFR_MIN_FACE_PX = env.int("LFR_MIN_FACE_PX", default=40)  # smaller detections are ignored (HOG false faces on badges)

# --- Watch-lists (domain.md 3, 6): enrolment limits, image age, approval freshness, destruction delay.
LFR_MAX_IMAGE_PIXELS = env.int("LFR_MAX_IMAGE_PIXELS", default=40_000_000)  # decompression-bomb guard per image
LFR_MAX_IMAGE_BYTES = env.int("LFR_MAX_IMAGE_BYTES", default=20 * 1024 * 1024)  # one enrolment image
LFR_MAX_IMAGE_AGE_YEARS = env.int("LFR_MAX_IMAGE_AGE_YEARS", default=5)  # older images need a recorded justification
LFR_MAX_ZIP_FILES = env.int("LFR_MAX_ZIP_FILES", default=1000)
LFR_MAX_ZIP_UNCOMPRESSED_BYTES = env.int("LFR_MAX_ZIP_UNCOMPRESSED_BYTES", default=500 * 1024 * 1024)
LFR_MAX_ZIP_RATIO = env.int("LFR_MAX_ZIP_RATIO", default=100)  # per file: uncompressed / compressed size
LFR_WATCHLIST_APPROVAL_MAX_AGE_HOURS = env.int("LFR_WATCHLIST_APPROVAL_MAX_AGE_HOURS", default=24)
LFR_WATCHLIST_DESTRUCTION_DELAY_HOURS = env.int("LFR_WATCHLIST_DESTRUCTION_DELAY_HOURS", default=24)
# A process drops a decrypted gallery unused this long, so destroyed watch-lists do not linger in worker memory.
LFR_GALLERY_CACHE_IDLE_SECONDS = env.int("LFR_GALLERY_CACHE_IDLE_SECONDS", default=120)
CELERY_BEAT_SCHEDULE["delete-expired-api-tokens"] = {
    "task": "compliance.tasks.delete_expired_api_tokens",
    "schedule": 3600.0,
    "options": {"expires": 3500},
}
CELERY_BEAT_SCHEDULE["resume-stalled-enrolment"] = {
    "task": "compliance.tasks.resume_stalled_enrolment",
    "schedule": 300.0,
    "options": {"expires": 290},
}
# How often watch-lists due for destruction are destroyed; what falls due before the next run goes now.
LFR_WATCHLIST_DESTRUCTION_SWEEP_SECONDS = 300
CELERY_BEAT_SCHEDULE["destroy-due-watchlists"] = {
    "task": "compliance.tasks.destroy_due_watchlists",
    "schedule": float(LFR_WATCHLIST_DESTRUCTION_SWEEP_SECONDS),
    "options": {"expires": LFR_WATCHLIST_DESTRUCTION_SWEEP_SECONDS - 10},
}
# An enrolment task's hard time limit (its soft limit is 100 s earlier); a batch processing longer lost its worker.
LFR_ENROLMENT_TIME_LIMIT = 1900

# --- Retention (domain.md 6) and the EU AI Act pack (domain.md 8). The DPO may tighten within these bounds.
# Watch-lists: at most LFR_WATCHLIST_DESTRUCTION_DELAY_HOURS after completion (above), at once on revocation.
LFR_RETENTION_ALERT_DAYS = env.int("LFR_RETENTION_ALERT_DAYS", default=31)  # max after the deployment ends
# How often the retention sweep runs; data whose maximum period ends before the next sweep is deleted now.
LFR_RETENTION_SWEEP_SECONDS = env.int("LFR_RETENTION_SWEEP_SECONDS", default=900)
LFR_AUDIT_RETENTION_MIN_DAYS = 183  # EU AI Act Art. 26(6): logs kept at least six months; not configurable
LFR_AUDIT_RETENTION_DAYS = env.int("LFR_AUDIT_RETENTION_DAYS", default=2192)  # six years
if LFR_AUDIT_RETENTION_DAYS < LFR_AUDIT_RETENTION_MIN_DAYS:
    raise ImproperlyConfigured(f"LFR_AUDIT_RETENTION_DAYS must be at least {LFR_AUDIT_RETENTION_MIN_DAYS}.")
LFR_AUDIT_ARCHIVE_DIR = Path(env("LFR_AUDIT_ARCHIVE_DIR", default=str(VAR_DIR / "audit-archive")))
# A pruned segment's file is kept this long after its events were pruned (time for the force to copy it into its
# own records system, if its records policy asks), then deleted; its checkpoint row (hashes, no content) stays.
LFR_AUDIT_SEGMENT_GRACE_DAYS = env.int("LFR_AUDIT_SEGMENT_GRACE_DAYS", default=90)
LFR_EU_AUTHORISATION_HOURS = 24  # EU AI Act Art. 5(3): urgent use stops unless authorised within 24 h
CELERY_BEAT_SCHEDULE["enforce-retention"] = {
    "task": "compliance.tasks.enforce_retention",
    "schedule": LFR_RETENTION_SWEEP_SECONDS,
    "options": {"expires": 600},
}
CELERY_BEAT_SCHEDULE["eu-urgent-authorisation-deadline"] = {
    "task": "compliance.tasks.enforce_eu_authorisation_deadline",
    "schedule": 60.0,
    "options": {"expires": 55},
}

# --- Live matching (domain.md 4, 5): frames, the matching queue, alerts and adjudication.
LFR_LIVE_BUDGET_SECONDS = env.float("LFR_LIVE_BUDGET_SECONDS", default=5.0)  # older frames are dropped, not matched
LFR_MAX_SESSION_QUEUE = env.int("LFR_MAX_SESSION_QUEUE", default=10)  # frames waiting per session before 429
LFR_MAX_FRAME_BYTES = env.int("LFR_MAX_FRAME_BYTES", default=4 * 1024 * 1024)  # larger frames get 413
LFR_MAX_FRAME_PIXELS = env.int("LFR_MAX_FRAME_PIXELS", default=12_000_000)  # decompression guard per frame
LFR_ALERT_REPEAT_SECONDS = env.int("LFR_ALERT_REPEAT_SECONDS", default=30)  # repeat sightings update one alert
# Two distinct verifiers before an alert is referred (EU AI Act Art. 14(5)); always on in the EU pack.
LFR_TWO_PERSON_VERIFICATION = env.bool("LFR_TWO_PERSON_VERIFICATION", default=False) or LFR_JURISDICTION == "eu"
# In-flight frames: a Redis URL, or shm:///dev/shm/lfr-frames (RAM). Default: the broker if it is Redis.
LFR_FRAME_STORE_URL = env("LFR_FRAME_STORE_URL", default="")
# A Redis frame store reads the server's `save` and `appendonly` and refuses frames unless both are off. Where
# CONFIG is disabled (some managed services), set this once someone has checked it by other means.
LFR_FRAME_STORE_VOLATILE_CONFIRMED = env.bool("LFR_FRAME_STORE_VOLATILE_CONFIRMED", default=False)
LFR_MATCH_TIME_LIMIT = env.int("LFR_MATCH_TIME_LIMIT", default=60)  # seconds per frame task (hard limit)
LFR_WORKER_HEARTBEAT_SECONDS = env.int("LFR_WORKER_HEARTBEAT_SECONDS", default=15)
_visibility_timeout = CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
if _visibility_timeout <= LFR_MATCH_TIME_LIMIT:
    raise ImproperlyConfigured("LFR_MATCH_TIME_LIMIT must be below the broker's visibility timeout.")
# Queues by task name (Celery 6 drops the per-task `queue` attribute): watch-list enrolment and destruction run
# where the enrolment workers are, frames where the matching workers are, everything else on `default`.
CELERY_TASK_ROUTES = {
    **globals().get("CELERY_TASK_ROUTES", {}),
    "compliance.tasks.process_enrolment_batch": {"queue": "enrolment"},
    "compliance.tasks.destroy_due_watchlists": {"queue": "enrolment"},
    "matching.tasks.process_frame": {"queue": "matching"},
}
# Demo (make run): sample faces for the one-click stream; default ../shared/data/faces when it exists.
LFR_DEMO_FACES = env("LFR_DEMO_FACES", default="")
CELERY_BEAT_SCHEDULE["enforce-live-sessions"] = {
    "task": "matching.tasks.enforce_live_sessions",
    "schedule": 5.0,  # "within seconds": the deployment hook and the per-frame check act sooner still
    "options": {"expires": 4},
}
CELERY_BEAT_SCHEDULE["sweep-frame-store"] = {
    "task": "matching.tasks.sweep_frame_store",
    "schedule": 60.0,
    "options": {"expires": 55},
}

# The budget is met only when the calibration shows it at this confidence (one-sided Clopper-Pearson bound on
# the false-alert rate); 0 compares the point estimate alone, which a small calibration set can flatter.
LFR_BUDGET_CONFIDENCE = env.float("LFR_BUDGET_CONFIDENCE", default=0.95)
