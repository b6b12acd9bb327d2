from django.apps import AppConfig
from django.core.signals import request_finished
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = _("Jobs")

    def ready(self):
        from .tail import request_tail

        request_finished.connect(request_tail, dispatch_uid="jobs.request_tail")
