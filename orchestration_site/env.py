"""django-environ, strict: a malformed value stops start-up with one line that names the variable.

Plain django-environ raises a bare ``ValueError`` for ``Q_WORKERS=two`` and reads any unknown word
as false (``PACING_ENABLED=maybe`` would turn pacing off without a word). ``manage.py`` prints an
``ImproperlyConfigured`` as one line and exits 2.
"""

import environ
from django.core.exceptions import ImproperlyConfigured

# django-environ's words for true, and their opposites; empty (FOO= in a compose file) is false.
BOOLEAN_WORDS = {"true", "on", "ok", "y", "yes", "1", "false", "off", "n", "no", "0", ""}
KINDS = {int: "a whole number", float: "a number"}


class Env(environ.Env):
    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        try:
            value = super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError:
            if cast not in KINDS:
                raise  # the value itself could be a secret (a URL, a key): never repeat it
            raise ImproperlyConfigured(f"{var} must be {KINDS[cast]}, not {self.ENVIRON[var]!r}.") from None
        raw = self.ENVIRON.get(var)
        if cast is bool and raw is not None and raw.strip().lower() not in BOOLEAN_WORDS:
            raise ImproperlyConfigured(f"{var} must be true or false (or 1/0, yes/no, on/off), not {raw!r}.")
        return value
