from django.contrib import admin

from rewards.models import JobRun, LedgerEntry, PointLot, Program


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


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    """The nightly jobs' run log, written by the jobs alone. Their schedules are under
    Periodic tasks (django-celery-beat)."""

    list_display = (
        "id",
        "job",
        "as_of",
        "status",
        "via",
        "started_at",
        "finished_at",
        "chunks_done",
        "chunks_total",
        "items_processed",
    )
    list_filter = ("job", "status", "via")
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")
