from django.contrib.admin.apps import AdminConfig


class LoyaltyAdminConfig(AdminConfig):
    """django.contrib.admin with the program's own site (loyalty_engine/admin_site.py)."""

    default_site = "loyalty_engine.admin_site.LoyaltyAdminSite"
