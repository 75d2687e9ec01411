from django.urls import path

from . import views

urlpatterns = [
    path("queues/mql/", views.mql_queue, name="mql-queue"),
    path("queues/mql/bulk/", views.mql_queue_bulk, name="mql-queue-bulk"),
    path("queues/sales/", views.sales_queue, name="sales-queue"),
    path("queues/sales/<int:pk>/", views.inbox_action, name="inbox-action"),
    path("leads/<int:pk>/qualify/", views.qualify, name="qualify"),
    path("leads/<int:pk>/qualify/check/", views.qualify_check, name="qualify-check"),
    path("leads/<int:pk>/actions/", views.lead_action, name="lead-action"),
]
