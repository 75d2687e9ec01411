from django.urls import path

from . import views

urlpatterns = [
    path("scoring/", views.scoring_home, name="scoring"),
    path("scoring/drafts/", views.draft_create, name="scoring-draft-create"),
    path("scoring/models/<int:pk>/", views.model_detail, name="scoring-model"),
    path("scoring/models/<int:pk>/activate/", views.model_activate, name="scoring-model-activate-page"),
    path("scoring/jobs/<int:pk>/", views.job_detail, name="rescore-job-page"),
    path("leads/<int:pk>/", views.lead_detail, name="lead-page"),
]
