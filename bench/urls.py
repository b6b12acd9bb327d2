"""The product's URLs and, only here, the poll path's baseline: a constant."""

from django.http import HttpResponse
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as product_urlpatterns


def constant(request):
    """What the cheapest Django view costs: no template, no query."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/constant", constant), *product_urlpatterns]
