from django.apps import AppConfig
from django.core.signals import request_finished


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        from .tail import request_tail

        request_finished.connect(request_tail, dispatch_uid="jobs.request_tail")
