from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project itself, as an app only so that its system checks register."""

    name = "config"
    label = "project"
    verbose_name = "Project"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
