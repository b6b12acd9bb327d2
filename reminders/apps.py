from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemindersConfig(AppConfig):
    name = "reminders"
    verbose_name = _("Reminders")

    def ready(self):
        # Importing registers the system checks and the signal receivers.
        from . import checks, receivers  # noqa: F401
