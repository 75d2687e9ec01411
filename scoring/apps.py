from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the rescoring hook to leads' change signal)
