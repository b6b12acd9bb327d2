from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"
    verbose_name = "Reminders"

    def ready(self):
        # Importing registers the system checks and the signal receivers.
        from . import checks, receivers  # noqa: F401
