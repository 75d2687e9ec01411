from django.urls import path

from . import views

urlpatterns = [
    path("imports/", views.upload, name="imports"),
    path("imports/<int:pk>/", views.job_detail, name="import-job"),
    path("imports/<int:pk>/mapping/", views.mapping, name="import-mapping"),
    path("imports/<int:pk>/import/", views.job_import, name="import-start"),
    path("imports/<int:pk>/errors.csv", views.job_errors, name="import-errors"),
    path("leads/export.csv", views.leads_export, name="leads-export"),
]
