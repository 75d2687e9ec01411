"""The words of PRODUCT.md as constants: interaction types, stages, channels."""

from django.db import models


class InteractionType(models.TextChoices):
    PAGE_VIEW = "page_view", "Page view"
    PRICING_PAGE_VIEW = "pricing_page_view", "Pricing page view"
    CONTENT_DOWNLOAD = "content_download", "Content download"
    WEBINAR_REGISTRATION = "webinar_registration", "Webinar registration"
    WEBINAR_ATTENDANCE = "webinar_attendance", "Webinar attendance"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    FORM_SUBMISSION = "form_submission", "Form submission"
    NEWSLETTER_SIGNUP = "newsletter_signup", "Newsletter sign-up"
    DEMO_REQUEST = "demo_request", "Demo request"
    CONTACT_REQUEST = "contact_request", "Contact request"
    TRIAL_SIGNUP = "trial_signup", "Trial sign-up"
    AD_CLICK = "ad_click", "Ad click"
    CART_ADD = "cart_add", "Cart add"
    SOCIAL_ENGAGEMENT = "social_engagement", "Social engagement"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
    BOUNCE = "bounce", "Bounce"


class Stage(models.TextChoices):
    SUBSCRIBER = "subscriber", "Subscriber"
    LEAD = "lead", "Lead"
    MQL = "mql", "MQL"
    SAL = "sal", "SAL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    RECYCLED = "recycled", "Recycled"
    DISQUALIFIED = "disqualified", "Disqualified"


class FitGrade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"
    F = "F", "F (knocked out)"


class Seniority(models.TextChoices):
    C_LEVEL = "c_level", "C-level"
    VP = "vp", "VP"
    DIRECTOR = "director", "Director"
    MANAGER = "manager", "Manager"
    INDIVIDUAL = "individual", "Individual contributor"
    STUDENT = "student", "Student"
    UNKNOWN = "unknown", "Unknown"
