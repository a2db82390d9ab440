from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        # Imported once the app registry is ready: channels imports the models.
        from notifications.channels import check_env_channel
        from notifications.models import Channel
        from notifications.secrets import forget_secrets, install_log_masking

        checks.register(check_env_channel)
        # The secrets to mask are read once and kept; a changed setting or channel is read again.
        setting_changed.connect(forget_secrets, dispatch_uid="notifications.secrets.settings")
        post_save.connect(forget_secrets, sender=Channel, dispatch_uid="notifications.secrets.saved")
        post_delete.connect(forget_secrets, sender=Channel, dispatch_uid="notifications.secrets.deleted")
        install_log_masking()
