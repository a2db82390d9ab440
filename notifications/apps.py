from django.apps import AppConfig
from django.core import checks


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        # Imported once the app registry is ready: channels imports the models.
        from notifications.channels import check_env_channel

        checks.register(check_env_channel)
