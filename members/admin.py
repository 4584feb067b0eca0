from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from members.models import BALANCE_FIELDS, Member, Shop, ShopAPIKey


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "created_at")
    search_fields = ("name",)


@admin.register(ShopAPIKey)
class ShopAPIKeyAdmin(APIKeyModelAdmin):
    """Adding a key shows it once in the success message; revoking is a checkbox."""

    list_display = (*APIKeyModelAdmin.list_display, "shop")
    list_filter = (*APIKeyModelAdmin.list_filter, "shop")


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("external_id", "name", "email", "status", "points_available", "enrolled_at")
    list_filter = ("status",)
    search_fields = ("external_id", "email", "name")
    # Balances are a cache of the ledger: only the ledger services change them.
    readonly_fields = (*BALANCE_FIELDS, "enrolled_at")
