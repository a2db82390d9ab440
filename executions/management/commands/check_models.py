"""``check_models``: the vendors' model lists (``GET /v1/models``) against the configured models.

Exit codes: 0 done (an unreachable vendor is a warning line, not a failure).
"""

from django.core.management.base import BaseCommand

from executions.providers.model_check import check_models


class Command(BaseCommand):
    help = (
        "Ask each vendor which models it serves: report configured models it no longer lists, record "
        "the shutdown dates it publishes, and announce what is new once."
    )

    def handle(self, *args, **options):
        result = check_models()
        for line in result.lines():
            style = self.style.WARNING if line.startswith(("Warning:", "Not listed:")) else str
            self.stdout.write(style(line))
