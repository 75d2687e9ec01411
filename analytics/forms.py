"""The filters of the analytics pages: a date range (both days included) and an optional source."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from .selectors import Filters

DEFAULT_DAYS = 90
MAX_YEARS = 3


def default_filters(today: dt.date | None = None) -> Filters:
    today = today or timezone.localdate()
    return Filters(start=today - dt.timedelta(days=DEFAULT_DAYS - 1), end=today)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


class AnalyticsFilterForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=DateInput())
    end = forms.DateField(label="To", required=False, widget=DateInput())
    source = forms.ChoiceField(label="Source", required=False)

    def __init__(self, data=None, *, sources: list[str] = (), today: dt.date | None = None):
        self.defaults = default_filters(today)
        # Unbound (no query string) shows the defaults; bound keeps what was typed, errors and all.
        super().__init__(data, initial={"start": self.defaults.start, "end": self.defaults.end})
        self.fields["source"].choices = [("", "Any source"), *((s, s) for s in sources)]

    def clean(self):
        data = super().clean()
        start = data.get("start") or (None if "start" in self.errors else self.defaults.start)
        end = data.get("end") or (None if "end" in self.errors else self.defaults.end)
        if start and end:
            if end < start:
                self.add_error("end", "The end date must be on or after the start date.")
            elif start < _years_before(end, MAX_YEARS):
                self.add_error("start", f"Choose a range of at most {MAX_YEARS} years.")
            else:
                data["start"], data["end"] = start, end
        return data

    def filters(self) -> Filters:
        """The valid filters; a bad date range falls back to the default one (the errors are shown)."""
        if not self.is_bound:
            return self.defaults
        self.is_valid()
        data = self.cleaned_data
        dates_ok = not ({"start", "end"} & set(self.errors)) and "start" in data and "end" in data
        start, end = (data["start"], data["end"]) if dates_ok else (self.defaults.start, self.defaults.end)
        return Filters(start=start, end=end, source=data.get("source") or "")
