from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from . import lifecycle
from .models import QualificationReview

User = get_user_model()


def _choices(codes):
    return [(c, c.replace("_", " ").capitalize()) for c in codes]


class QueueFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False)
    fit_grade = forms.MultipleChoiceField(
        label="Fit grade",
        required=False,
        choices=[(g, g) for g in "ABCD"],
        widget=forms.CheckboxSelectMultiple,
    )
    source = forms.CharField(label="Source", required=False)
    min_score = forms.IntegerField(label="Minimum score", required=False, min_value=0, max_value=100)
    min_probability = forms.IntegerField(
        label="Minimum chance to convert (%)", required=False, min_value=0, max_value=100
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[
            ("score", "Score"),
            ("fit", "Fit grade"),
            ("engagement", "Engagement"),
            ("age", "Oldest MQL first"),
            ("newest", "Newest MQL first"),
            ("source", "Source"),
            ("probability", "Chance to convert"),
        ],
    )


def sdr_choices():
    users = User.objects.filter(groups__name="sales", is_active=True).order_by("username")
    return [("", "Route automatically")] + [(u.username, u.get_full_name() or u.username) for u in users]


class BulkActionForm(forms.Form):
    lead_ids = forms.TypedMultipleChoiceField(coerce=int, label="Leads")
    owner = forms.ChoiceField(label="Hand off to", required=False)
    reason = forms.ChoiceField(
        label="Disqualify reason",
        required=False,
        choices=[("", "—")] + _choices(lifecycle.DISQUALIFY_REASONS),
    )

    def __init__(self, *args, lead_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lead_ids"].choices = [(i, i) for i in lead_ids]
        self.fields["owner"].choices = sdr_choices()


class RejectForm(forms.Form):
    reason = forms.ChoiceField(
        label="Reason", choices=[("", "Choose a reason")] + _choices(lifecycle.REJECT_REASONS)
    )
    note = forms.CharField(label="Note", required=False, max_length=2000)


class ActionForm(forms.Form):
    """The lead page's action buttons: one form, the action names the button pressed."""

    action = forms.ChoiceField(choices=[(a.value, a.value) for a in lifecycle.Action])
    expected_stage = forms.ChoiceField(choices=[(s.value, s.value) for s in lifecycle.Stage])
    reason = forms.CharField(required=False, max_length=60)
    note = forms.CharField(required=False, max_length=5000)
    owner = forms.CharField(required=False, max_length=150)
    nurture_until = forms.DateField(required=False)


class BantForm(forms.ModelForm):
    expected_stage = forms.CharField(widget=forms.HiddenInput)
    nurture_until = forms.DateField(
        label="Nurture until (recycle)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = QualificationReview
        fields = [
            "budget_status",
            "budget_amount",
            "budget_notes",
            "authority_status",
            "authority_role",
            "need_status",
            "need_pain",
            "timeline_status",
            "timeline_timeframe",
            "notes",
            "outcome",
            "reason",
        ]
        labels = {
            "budget_status": "Budget",
            "budget_amount": "Budget amount",
            "budget_notes": "Budget notes",
            "authority_status": "Authority",
            "authority_role": "Contact's role in the decision",
            "need_status": "Need",
            "need_pain": "The pain in their words",
            "timeline_status": "Timeline",
            "timeline_timeframe": "When they want to buy",
            "notes": "Call notes",
            "outcome": "Outcome",
            "reason": "Reason (recycle or disqualify)",
        }
        widgets = {
            "budget_notes": forms.Textarea(attrs={"rows": 2}),
            "need_pain": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 4}),
            "outcome": forms.RadioSelect,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        reasons = sorted(set(lifecycle.RECYCLE_REASONS) | set(lifecycle.DISQUALIFY_REASONS))
        self.fields["reason"] = forms.ChoiceField(
            label="Reason (recycle or disqualify)", required=False, choices=[("", "—")] + _choices(reasons)
        )
        self.fields["nurture_until"].initial = timezone.now().date() + timedelta(days=90)

    def review_data(self) -> dict:
        return {
            f: self.cleaned_data.get(f) if f != "budget_amount" else self.cleaned_data.get(f)
            for f in self.Meta.fields
        }
