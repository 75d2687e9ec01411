"""One settings module, read from the environment. Defaults serve the local run and the tests."""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

INSECURE_DEFAULT_SECRET = "django-insecure-leadqual-local-only"

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# A deployment (DEBUG off) must bring its own secret: sessions and signed values depend on it.
# Without one the key is left empty: commands that do not sign anything (makemigrations, check)
# still run, while anything that would sign fails, and the web and Celery processes refuse to
# start (leadqual.secret.require_secret_key, called by wsgi.py and celery.py).
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default=INSECURE_DEFAULT_SECRET
    if DEBUG or env.bool("LEADQUAL_ALLOW_INSECURE_SECRET", default=False)
    else "",
)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "js_lib_htmx",
    "leads",
    "scoring",
    "handoff",
    "imports",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "leadqual.urls"
WSGI_APPLICATION = "leadqual.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # get_item and words in every template, without a {% load %} in each.
            "builtins": ["leads.templatetags.leadqual_tags"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "leads.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/leadqual"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="leadqual"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed, not hashed: the same storage runs locally, in tests and in production, with or
    # without collectstatic (the docker image runs it; WhiteNoise also serves from the finders).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Batches of 1,000 leads with company data stay far below this; larger bodies get a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("LEADQUAL_MAX_BODY_BYTES", default=5 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leads.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["leads.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("LEADQUAL_API_RATE", default="6000/min")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "leads.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "leadqual API",
    "DESCRIPTION": "Lead ingestion, scoring and MQL-to-SQL handoff.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from the installed sidecar package: the docs page works with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Celery's Django fixup closes every database connection before and after every task unless this
# is set; then it closes them only every this many tasks, and leadqual.celery applies Django's own
# rule (CONN_MAX_AGE, health checks, broken connections) around each task instead, as for a web
# request. A new backend per task cost a 1,000-lead rescore chunk ~60 ms of PostgreSQL CPU.
CELERY_DB_REUSE_MAX = 1000
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # The safety net for rescoring tasks the broker lost: leads keep their mark until scored.
    "sweep-marked-leads": {"task": "scoring.tasks.sweep_marked_leads_task", "schedule": 60.0},
    "nightly-decay": {"task": "scoring.tasks.apply_decay_task", "schedule": crontab(hour=2, minute=15)},
    "retry-due-webhooks": {"task": "handoff.tasks.retry_due_webhooks_task", "schedule": 60.0},
    "escalate-overdue-handoffs": {"task": "handoff.tasks.escalate_overdue_handoffs_task", "schedule": 300.0},
    "weekly-predictive-training": {
        "task": "scoring.tasks.train_predictive_model_task",
        "schedule": crontab(day_of_week="sun", hour=3, minute=30),
    },
    "prune-import-files": {"task": "imports.tasks.prune_import_files_task", "schedule": 86400.0},
    "prune-idempotency-keys": {"task": "leads.tasks.prune_idempotency_keys_task", "schedule": 3600.0},
    # The default analytics page stays a cache hit (fresh for 5 minutes; analytics/figures.py).
    "refresh-analytics-figures": {"task": "analytics.tasks.refresh_default_figures_task", "schedule": 240.0},
}

# Webhook receivers must be https; plain http is allowed for local receivers in debug or with this.
LEADQUAL_WEBHOOKS_ALLOW_HTTP = env.bool("LEADQUAL_WEBHOOKS_ALLOW_HTTP", default=False)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="leadqual@localhost")

# Idempotency keys are kept this long, as Stripe does.
IDEMPOTENCY_KEY_TTL_HOURS = 24

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
