from django.contrib import admin

from rewards.models import LedgerEntry, PointLot, Program, Reward, Voucher
from rewards.vouchers import voucher_code_normalize


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ("name", "currency", "points_per_unit", "expiry_months", "pending_days")

    def has_add_permission(self, request):
        return not Program.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is changed only by services, with a reason; the admin only shows it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "member",
        "kind",
        "points",
        "held_change",
        "owed_change",
        "reason",
        "created_at",
    )
    list_filter = ("kind", "actor_kind")
    search_fields = ("member__external_id", "reference")
    list_select_related = ("member",)
    ordering = ("-id",)


@admin.register(PointLot)
class PointLotAdmin(ReadOnlyAdmin):
    list_display = ("id", "member", "points", "remaining", "is_pending", "earned_at", "expires_at")
    list_filter = ("is_pending",)
    search_fields = ("member__external_id",)
    list_select_related = ("member",)


# --- the reward catalog and vouchers ------------------------------------------------------


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "points_cost",
        "stock",
        "per_member_limit",
        "starts_at",
        "ends_at",
        "is_active",
    )
    list_filter = ("is_active", "tiers")
    search_fields = ("name", "description")
    filter_horizontal = ("tiers",)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "image_url":
            kwargs["assume_scheme"] = "https"
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "stock":
            # The form posts back the stock it showed, so save_model can tell a stock
            # staff typed from one that redemptions lowered while the form was open.
            field.show_hidden_initial = True
        return field

    def save_model(self, request, obj, form, change):
        if change and "stock" not in form.changed_data:
            # Keep the stock redemptions left, not the form's stale copy; the lock holds
            # it until this save commits.
            obj.stock = (
                Reward.objects.select_for_update().values_list("stock", flat=True).get(pk=obj.pk)
            )
        super().save_model(request, obj, form, change)


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    """Vouchers change only through redemptions, tills and cancels."""

    list_display = (
        "code",
        "reward",
        "member",
        "status",
        "issued_at",
        "expires_at",
        "used_at",
        "used_by",
    )
    list_filter = ("status", "reward")
    search_fields = ("code", "member__external_id")
    list_select_related = ("reward", "member", "used_by")
    ordering = ("-issued_at",)

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        code = voucher_code_normalize(search_term)
        if code:  # a code as the member read it out: any case, spaces, no hyphens
            results |= queryset.filter(code=code)
        return results, may_have_duplicates
