from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("internal/jobs/tick", views.tick, name="tick"),
]
