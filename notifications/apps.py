from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from django.core import checks

        from notifications.channels import check_env_channel

        checks.register(check_env_channel)
