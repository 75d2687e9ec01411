"""The draft editor: the numbers a marketer tunes, plus the full definition for everything else."""

import json

from django import forms

from . import engine

GRADE_CHOICES = [(g, g) for g in ("A", "B", "C", "D")]


class DraftForm(forms.Form):
    name = forms.CharField(max_length=120)
    mql_engagement_threshold = forms.FloatField(label="MQL engagement threshold", min_value=0)
    mql_min_grade = forms.ChoiceField(label="Minimum fit grade for MQL", choices=GRADE_CHOICES)
    fast_lane_min_grade = forms.ChoiceField(
        label="Minimum grade for the hand-raiser fast lane", choices=GRADE_CHOICES
    )
    total_cap = forms.FloatField(label="Engagement cap (total)", min_value=0, required=False)
    definition = forms.CharField(
        label="Full definition (JSON): criteria, knock-outs and rules",
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
    )

    def __init__(self, *args, model=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule_keys: list[str] = []
        self.criterion_keys: list[str] = []
        if model is None:
            return
        d = model.definition
        self.initial.update(
            name=model.name,
            mql_engagement_threshold=d.get("mql_engagement_threshold"),
            mql_min_grade=d.get("mql_min_grade"),
            fast_lane_min_grade=d.get("fast_lane_min_grade"),
            total_cap=d.get("total_cap"),
            definition=json.dumps(d, indent=2),
        )
        for rule in d.get("rules", []):
            key = f"rule__{rule['key']}"
            self.fields[key] = forms.FloatField(label=rule["label"], initial=rule["points"])
            self.rule_keys.append(key)
        for criterion in d.get("icp", {}).get("criteria", []):
            key = f"weight__{criterion['key']}"
            self.fields[key] = forms.FloatField(label=criterion["label"], initial=criterion.get("weight", 0))
            self.criterion_keys.append(key)

    def rule_fields(self):
        return [self[k] for k in self.rule_keys]

    def criterion_fields(self):
        return [self[k] for k in self.criterion_keys]

    def clean(self):
        cleaned = super().clean()
        raw = cleaned.get("definition")
        if raw is None:
            return cleaned
        try:
            definition = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.add_error("definition", f"Not valid JSON: {exc}")
            return cleaned
        if not isinstance(definition, dict):
            self.add_error("definition", "Must be a JSON object.")
            return cleaned
        # The quick fields win over the same values in the JSON.
        for field in ("mql_engagement_threshold", "mql_min_grade", "fast_lane_min_grade", "total_cap"):
            if field in cleaned:
                definition[field] = cleaned[field]
        for rule in definition.get("rules", []):
            key = f"rule__{rule.get('key')}"
            if cleaned.get(key) is not None:
                rule["points"] = cleaned[key]
        for criterion in definition.get("icp", {}).get("criteria", []):
            key = f"weight__{criterion.get('key')}"
            if cleaned.get(key) is not None:
                criterion["weight"] = cleaned[key]
        try:
            engine.model_from_dict(definition)
        except ValueError as exc:
            errors = getattr(exc, "errors", None) or [("definition", str(exc))]
            for path, message in errors:
                self.add_error("definition", f"{path}: {message}")
            return cleaned
        cleaned["definition_dict"] = definition
        return cleaned
