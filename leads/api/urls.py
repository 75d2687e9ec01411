from django.urls import path

from . import views

urlpatterns = [
    path("leads/", views.LeadListCreateView.as_view(), name="lead-list"),
    path("leads/batch/", views.LeadBatchView.as_view(), name="lead-batch"),
    path("leads/<int:pk>/", views.LeadDetailView.as_view(), name="lead-detail"),
    path(
        "leads/<int:pk>/interactions/",
        views.LeadInteractionsView.as_view(),
        name="lead-interactions",
    ),
    path("interactions/", views.InteractionCreateView.as_view(), name="interaction-create"),
]
