from django.urls import path

from . import views

urlpatterns = [
    path("leads/<int:pk>/score-history/", views.ScoreHistoryView.as_view(), name="lead-score-history"),
    path("icps/", views.ICPListCreateView.as_view(), name="icp-list"),
    path("icps/<int:pk>/", views.ICPDetailView.as_view(), name="icp-detail"),
    path("scoring-models/", views.ScoringModelListCreateView.as_view(), name="scoring-model-list"),
    path("scoring-models/<int:pk>/", views.ScoringModelDetailView.as_view(), name="scoring-model-detail"),
    path(
        "scoring-models/<int:pk>/activate/",
        views.ScoringModelActivateView.as_view(),
        name="scoring-model-activate",
    ),
    path(
        "scoring-models/<int:pk>/backtest/",
        views.ScoringModelBacktestView.as_view(),
        name="scoring-model-backtest",
    ),
    path(
        "scoring-models/<int:pk>/preview/",
        views.ScoringModelPreviewView.as_view(),
        name="scoring-model-preview",
    ),
    path("scoring/jobs/<int:pk>/", views.RescoreJobView.as_view(), name="rescore-job"),
]

# Predictive scoring (scoring/api/predictive.py).
from . import predictive  # noqa: E402

urlpatterns += [
    path("scoring/predictive/train/", predictive.PredictiveTrainView.as_view(), name="predictive-train"),
    path(
        "scoring/predictive/models/",
        predictive.PredictiveModelListView.as_view(),
        name="predictive-model-list",
    ),
    path(
        "scoring/predictive/models/<int:pk>/",
        predictive.PredictiveModelDetailView.as_view(),
        name="predictive-model-detail",
    ),
    path("leads/<int:pk>/prediction/", predictive.LeadPredictionView.as_view(), name="lead-prediction"),
    path("scoring/predictive/train-now/", predictive.predictive_train_form, name="predictive-train-page"),
]
