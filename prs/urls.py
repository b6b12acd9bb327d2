from django.urls import path, re_path

from . import api, views

app_name = "prs"

urlpatterns = [
    path("api/prs", api.pr_collection, name="api-collection"),
    path("api/prs/<int:pr_id>", api.pr_detail, name="api-detail"),
    re_path(
        r"^api/prs/(?P<pr_id>[0-9]+)/(?P<action>join|confirm|check-in|exit|cancel)$",
        api.pr_action,
        name="api-action",
    ),
    # The pages, and the plain form posts behind their buttons.
    path("", views.pr_list, name="list"),
    path("prs/new", views.pr_create, name="new"),
    path("prs/<int:pr_id>", views.pr_detail, name="detail"),
    path("prs/<int:pr_id>/live", views.pr_live, name="live"),
    re_path(
        r"^prs/(?P<pr_id>[0-9]+)/(?P<action>join|confirm|check-in|exit|cancel)$",
        views.pr_action,
        name="action",
    ),
]
