from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from config import clock

from .models import PartnerRequest

# How far ahead a PR may be posted. It also keeps every deadline computed from the
# start time (reminders, release, check-in) far from the calendar's end.
MAX_START_AHEAD = timedelta(days=366)


class PartnerRequestForm(forms.ModelForm):
    """The rules a new PR must meet, shared by the page and the JSON API."""

    class Meta:
        model = PartnerRequest
        fields = ["title", "description", "location", "start_at", "capacity"]
        # The page's inputs; the JSON API hands the form parsed values instead.
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "start_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
        }

    def clean_start_at(self):
        start_at = self.cleaned_data["start_at"]
        if start_at <= clock.now():
            raise forms.ValidationError(_("The start time must be in the future."))
        if start_at > clock.now() + MAX_START_AHEAD:
            raise forms.ValidationError(
                _("The start time must be at most a year from now.")
            )
        return start_at
