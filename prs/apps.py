from django.apps import AppConfig


class PrsConfig(AppConfig):
    name = "prs"
    verbose_name = "Partner requests"
