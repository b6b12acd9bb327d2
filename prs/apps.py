from django.apps import AppConfig


class PrsConfig(AppConfig):
    name = "prs"
    verbose_name = "Partner requests"

    def ready(self):
        # The live part's snapshots follow the changes this process makes.
        from . import live  # noqa: F401
