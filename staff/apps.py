from django.apps import AppConfig


class StaffConfig(AppConfig):
    """Staff tooling around the admin: CSV import and export, and the staff groups."""

    name = "staff"
    verbose_name = "Onboarding and export"
