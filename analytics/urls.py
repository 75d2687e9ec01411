from django.urls import path

from . import views

urlpatterns = [
    path("analytics/", views.analytics_home, name="analytics"),
    path("analytics/refresh/", views.analytics_refresh, name="analytics-refresh"),
    path("analytics/leads/", views.analytics_leads, name="analytics-leads"),
]
