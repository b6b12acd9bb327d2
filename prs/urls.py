from django.urls import path, re_path

from . import api

app_name = "prs"

urlpatterns = [
    path("api/prs", api.pr_collection, name="api-collection"),
    path("api/prs/<int:pr_id>", api.pr_detail, name="api-detail"),
    re_path(
        r"^api/prs/(?P<pr_id>[0-9]+)/(?P<action>join|confirm|check-in|exit|cancel)$",
        api.pr_action,
        name="api-action",
    ),
]
