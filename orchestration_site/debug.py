"""What Django's error pages and error e-mails may show: no secret, in any setting or variable.

Django's own filter hides settings whose *name* looks secret (``*_KEY``, ``*_TOKEN``, ...), and
hides POST parameters and frame variables only when DEBUG is off. It shows a webhook URL (the
token is in its path), a ``DATABASE_URL`` or ``REDIS_URL`` with a password, and any secret copied
into another setting (``Q_CLUSTER["redis"]``) or into the environment that ``runserver`` puts in
``request.META``. This filter also looks at the *values*, and is active with DEBUG on too.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.views.debug import SafeExceptionReporterFilter

# Every configured secret's value (and the channels' webhook URLs), the product's one list.
from notifications.secrets import configured_secrets

# Names whose value is a secret: Django's list, plus webhooks, passwords in URLs, DSNs, cookies.
SECRET_NAMES = re.compile(
    r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|WEBHOOK|DSN|DATABASE_URL|REDIS_URL|CREDENTIAL",
    flags=re.I,
)
# A Discord (or Slack-style) webhook URL carries its token in the path.
WEBHOOK_URL = re.compile(r"https?://\S*/(api/webhooks|services)/\S+", flags=re.I)


class SecretMaskingFilter(SafeExceptionReporterFilter):
    hidden_settings = SECRET_NAMES

    def is_active(self, request) -> bool:
        # Django's filter steps aside when DEBUG is on; a debug page reachable by anyone (a bad
        # Host header is enough) must not show secrets either.
        return True

    def cleanse_setting(self, key, value):
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str) and self.holds_secret(cleansed):
            return self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (
                name,
                self.cleanse_setting(name, value) if isinstance(value, (str, dict, list, tuple)) else value,
            )
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]

    def holds_secret(self, value: str) -> bool:
        """A URL with a password, a webhook URL, or any configured secret's value inside it."""
        if WEBHOOK_URL.search(value):
            return True
        if "://" in value:
            try:
                if urlsplit(value.strip()).password:
                    return True
            except ValueError:  # not a URL after all (a bad port, say)
                pass
        if not hasattr(self, "_secrets"):
            self._secrets = configured_secrets()
        return any(secret in value for secret in self._secrets)
