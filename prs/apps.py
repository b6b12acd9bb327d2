from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrsConfig(AppConfig):
    name = "prs"
    verbose_name = _("Partner requests")

    def ready(self):
        # The live part's snapshots follow the changes this process makes.
        from . import live  # noqa: F401
