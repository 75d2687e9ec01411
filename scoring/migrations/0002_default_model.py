from django.db import migrations


def create_default(apps, schema_editor):
    from scoring.engine import DEFAULT_MODEL_DICT

    ScoringModel = apps.get_model("scoring", "ScoringModel")
    ICP = apps.get_model("leads", "IdealCustomerProfile")
    if ScoringModel.objects.exists():
        return
    icp = DEFAULT_MODEL_DICT["icp"]
    profile, _ = ICP.objects.get_or_create(
        name="B2B SaaS mid-market",
        defaults={
            "description": "Default profile shipped with leadqual: software-buying companies of 50-5,000 people.",
            "criteria": icp["criteria"],
            "knockouts": icp["knockouts"],
            "grade_thresholds": icp["grade_thresholds"],
        },
    )
    from django.utils import timezone

    ScoringModel.objects.create(
        name="Default model",
        version=1,
        status="active",
        definition=DEFAULT_MODEL_DICT,
        based_on_icp=profile,
        notes="Shipped default: engagement 50+ with grade B or better, or a demo/contact request at grade C+.",
        activated_at=timezone.now(),
    )


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial"), ("leads", "0002_role_groups")]
    operations = [migrations.RunPython(create_default, migrations.RunPython.noop)]
