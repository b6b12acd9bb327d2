from django import forms
from django.utils.translation import gettext_lazy as _

from config import clock

from .models import PartnerRequest


class PartnerRequestForm(forms.ModelForm):
    """The rules a new PR must meet, shared by the page and the JSON API."""

    class Meta:
        model = PartnerRequest
        fields = ["title", "description", "location", "start_at", "capacity"]

    def clean_start_at(self):
        start_at = self.cleaned_data["start_at"]
        if start_at <= clock.now():
            raise forms.ValidationError(_("The start time must be in the future."))
        return start_at
