from django.urls import path

from . import outcomes, views, webhooks

urlpatterns = [
    path("leads/<int:pk>/transitions/", views.LeadTransitionView.as_view(), name="lead-transitions"),
    path(
        "leads/<int:pk>/qualifications/", views.LeadQualificationsView.as_view(), name="lead-qualifications"
    ),
]

urlpatterns += [
    path("webhooks/", webhooks.WebhookListCreateView.as_view(), name="webhook-list"),
    path("webhooks/<int:pk>/", webhooks.WebhookDetailView.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:pk>/deliveries/", webhooks.WebhookDeliveriesView.as_view(), name="webhook-deliveries"
    ),
    path(
        "webhook-deliveries/<int:pk>/replay/",
        webhooks.WebhookDeliveryReplayView.as_view(),
        name="webhook-delivery-replay",
    ),
]

urlpatterns += [path("outcomes/", outcomes.OutcomeCreateView.as_view(), name="outcome-create")]
