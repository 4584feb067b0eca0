from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from loyalty_engine.audit_admin import AuditedAdmin
from rewards.forms import EarnRuleForm, MilestoneForm, ProgramForm, TierForm, translated
from rewards.ledger_words import entry_description
from rewards.models import (
    Activity,
    ActivityType,
    EarnRule,
    JobRun,
    LedgerEntry,
    MemberMerge,
    MemberTier,
    Milestone,
    PointLot,
    Program,
    Purchase,
    Redemption,
    Referral,
    Refund,
    Reward,
    StaffAdjustmentLimit,
    Tier,
    TierChange,
    Voucher,
)
from rewards.services.tiers import member_tier_pin
from rewards.vouchers import EXPIRED, voucher_code_normalize, voucher_status_at


@admin.register(Program)
class ProgramAdmin(AuditedAdmin):
    form = ProgramForm
    list_display = (
        "name",
        "currency",
        "points_per_unit",
        "expiry_months",
        "pending_days",
        "tier_basis",
        "tier_window_months",
    )
    fieldsets = (
        (None, {"fields": (*translated("name"), "default_language", "currency", "timezone")}),
        (_("Earning"), {"fields": ("points_per_unit", "pending_days")}),
        (
            _("What earns no points"),
            {"fields": ("excluded_skus", "excluded_categories", "points_paid_earns")},
        ),
        (
            _("Expiry"),
            {
                "fields": (
                    "expiry_policy",
                    "expiry_months",
                    "expiry_at_month_end",
                    "expiry_period_months",
                    "expiry_after_period_months",
                    "expiry_inactivity_months",
                    "expiry_inactivity_counts_redemptions",
                ),
                "description": _(
                    "A change applies to points earned from then on; points "
                    "already earned keep their expiry (under the inactivity policy, an activity "
                    "moves every open point's expiry to its new deadline)."
                ),
            },
        ),
        (
            _("Redeeming"),
            {
                "fields": (
                    "point_value",
                    "hold_ttl_minutes",
                    "max_points_share",
                    "min_points_per_redemption",
                    "redemption_step_points",
                )
            },
        ),
        (_("Tiers"), {"fields": ("tier_basis", "tier_window_months", "tier_grace_days")}),
        (_("Metrics"), {"fields": ("activity_window_days",)}),
        (
            _("Referrals"),
            {
                "fields": (
                    "referral_share_url",
                    "referral_referrer_points",
                    "referral_referred_points",
                    "referral_cap_per_year",
                ),
            },
        ),
        (
            _("Messages to members"),
            {
                "fields": (
                    "message_welcome",
                    "message_tier_changed",
                    "message_voucher_issued",
                    "message_points_expiring",
                    "expiring_notice_days",
                    "spend_url",
                )
            },
        ),
    )

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not Program.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger and the tier history are changed only by services, with a reason; the
    admin only shows them. Not even a superuser can add, change or delete a row here."""

    # Links from the member page: ?member__id__exact=<id>.
    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "member__id__exact" or super().lookup_allowed(lookup, value, request)

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
        "description",
        "reference",
        "actor",
        "effective_at",
        "created_at",
    )
    list_filter = ("kind", "actor_kind")
    search_fields = ("member__external_id", "reference")
    list_select_related = ("member", "actor_shop", "actor_user")
    ordering = ("-id",)
    change_list_template = "admin/rewards/ledgerentry/change_list.html"

    @admin.display(description=_("description"))
    def description(self, entry: LedgerEntry) -> str:
        return entry_description(entry)

    @admin.display(description=_("by"))
    def actor(self, entry: LedgerEntry) -> str:
        if entry.actor_user_id:
            return entry.actor_user.get_username()
        if entry.actor_shop_id:
            return entry.actor_shop.name
        return entry.get_actor_kind_display()

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_view)
        return [path("export/", export, name="rewards_ledgerentry_export"), *super().get_urls()]

    def export_view(self, request):
        from rewards.exports import ledger_csv_response

        if not request.user.has_perm("members.export_csv"):
            raise PermissionDenied
        # The entries the list shows, with its search and filters, oldest first.
        return ledger_csv_response(self.get_changelist_instance(request).get_queryset(request))


@admin.register(PointLot)
class PointLotAdmin(ReadOnlyAdmin):
    list_display = ("id", "member", "points", "remaining", "is_pending", "earned_at", "expires_at")
    list_filter = ("is_pending",)
    search_fields = ("member__external_id",)
    list_select_related = ("member",)


# Program configuration: tiers, earn rules and milestones. Their forms refuse contradictory
# settings (rewards/forms.py). The reward catalog and vouchers have their own admins.


def window_display(obj) -> str:
    """A rule's or milestone's [start, end) window in the admin's time zone."""

    def moment(value) -> str:
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")

    if obj.starts_at and obj.ends_at:
        return f"{moment(obj.starts_at)} – {moment(obj.ends_at)}"
    if obj.starts_at:
        return _("from %(start)s") % {"start": moment(obj.starts_at)}
    if obj.ends_at:
        return _("until %(end)s") % {"end": moment(obj.ends_at)}
    return _("always")


@admin.register(Tier)
class TierAdmin(AuditedAdmin):
    form = TierForm
    list_display = ("rank", "name", "threshold", "earn_multiplier")
    list_display_links = ("rank", "name")
    ordering = ("rank",)
    search_fields = ("name",)


@admin.register(EarnRule)
class EarnRuleAdmin(AuditedAdmin):
    form = EarnRuleForm
    list_display = (
        "name",
        "kind",
        "is_active",
        "window",
        "priority",
        "caps",
        "budget",
        "members_used",
        "points_given",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    filter_horizontal = ("shops", "tiers", "segments")
    readonly_fields = ("members_used", "points_given", "budget")
    fieldsets = (
        (None, {"fields": (*translated("name"), "description", "kind", "is_active", "priority")}),
        (
            _("What it gives"),
            {
                "fields": ("multiplier", "bonus_points", "min_amount", "targets"),
                "description": _(
                    "Fill in only what the rule's kind uses: the form refuses the rest."
                ),
            },
        ),
        (_("When and where"), {"fields": ("starts_at", "ends_at", "shops", "tiers", "segments")}),
        (
            _("Caps"),
            {
                "fields": ("cap_per_day", "cap_per_month", "cap_total"),
                "description": _("Per member. Only for multipliers and minimum-spend bonuses."),
            },
        ),
        (
            _("Exclusions and budget"),
            {
                "fields": ("excluded_skus", "excluded_categories", "budget_points"),
                "description": _(
                    "Rules that earn on purchases only. Lines the program "
                    "excludes earn nothing under any rule."
                ),
            },
        ),
    )
    usage_fieldset = (
        _("Usage"),
        {
            "fields": ("members_used", "points_given", "budget"),
            "description": _("Counted from the itemized points this rule has given."),
        },
    )

    def get_queryset(self, request):
        # One query for the whole changelist: the usage is annotated, not counted per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                members_used=Count("awards__member", distinct=True),
                points_given=Coalesce(Sum("awards__points"), 0),
            )
        )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if obj is None else (*fieldsets, self.usage_fieldset)

    def save_model(self, request, obj, form, change):
        if change:
            # Keep the budget purchases have used, not the form's stale copy; the lock
            # holds it until this save commits (purchases take it with a conditional update).
            obj.budget_used = (
                EarnRule.objects.select_for_update()
                .values_list("budget_used", flat=True)
                .get(pk=obj.pk)
            )
            if obj.budget_points is not None and obj.budget_points < obj.budget_used:
                obj.budget_points = obj.budget_used
        super().save_model(request, obj, form, change)

    @admin.display(description=_("window"))
    def window(self, rule: EarnRule) -> str:
        return window_display(rule)

    @admin.display(description=_("caps"))
    def caps(self, rule: EarnRule) -> str | None:
        caps = [
            (rule.cap_per_day, _("%(cap)s/day")),
            (rule.cap_per_month, _("%(cap)s/month")),
            (rule.cap_total, _("%(cap)s total")),
        ]
        return ", ".join(unit % {"cap": cap} for cap, unit in caps if cap is not None) or None

    @admin.display(description=_("budget used"))
    def budget(self, rule: EarnRule) -> str | None:
        if rule.budget_points is None:
            return None
        return ngettext(
            "%(used)s of %(budget)s point (%(left)s left)",
            "%(used)s of %(budget)s points (%(left)s left)",
            rule.budget_points,
        ) % {"used": rule.budget_used, "budget": rule.budget_points, "left": rule.budget_left}

    @admin.display(description=_("members who earned by it"), ordering="members_used")
    def members_used(self, rule: EarnRule) -> int:
        return rule.members_used

    @admin.display(description=_("points it gave"), ordering="points_given")
    def points_given(self, rule: EarnRule) -> int:
        return rule.points_given


@admin.register(Milestone)
class MilestoneAdmin(AuditedAdmin):
    form = MilestoneForm
    list_display = (
        "name",
        "kind",
        "target",
        "period",
        "bonus_points",
        "reward",
        "is_active",
        "window",
        "times_awarded",
        "members_reached",
    )
    list_filter = ("kind", "period", "is_active")
    search_fields = ("name",)
    list_select_related = ("reward",)
    readonly_fields = ("times_awarded", "members_reached")
    fieldsets = (
        (None, {"fields": (*translated("name"), *translated("description"), "is_active")}),
        (_("Goal"), {"fields": ("kind", "target", "period")}),
        (_("What it gives"), {"fields": ("bonus_points", "reward")}),
        (_("When and for whom"), {"fields": ("starts_at", "ends_at", "segments")}),
    )
    filter_horizontal = ("segments",)
    usage_fieldset = (
        _("Usage"),
        {
            "fields": ("times_awarded", "members_reached"),
            "description": _("Counted from the awards of this milestone, every period included."),
        },
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                times_awarded=Count("awards", distinct=True),
                members_reached=Count("awards__member", distinct=True),
            )
        )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if obj is None else (*fieldsets, self.usage_fieldset)

    @admin.display(description=_("window"))
    def window(self, milestone: Milestone) -> str:
        return window_display(milestone)

    @admin.display(description=_("times awarded"), ordering="times_awarded")
    def times_awarded(self, milestone: Milestone) -> int:
        return milestone.times_awarded

    @admin.display(description=_("members who reached it"), ordering="members_reached")
    def members_reached(self, milestone: Milestone) -> int:
        return milestone.members_reached


@admin.register(MemberTier)
class MemberTierAdmin(admin.ModelAdmin):
    """Member tiers. Staff change only the pinned floor, and through `member_tier_pin`, so a
    pin lifts the member at once and leaves a TierChange saying who pinned it."""

    list_display = ("member", "tier", "floor", "below_since", "changed_at", "evaluated_at")
    list_filter = ("tier", "floor")
    search_fields = ("member__external_id",)
    list_select_related = ("member", "tier", "floor")
    fields = ("member", "tier", "floor", "below_since", "changed_at", "evaluated_at")
    readonly_fields = ("member", "tier", "below_since", "changed_at", "evaluated_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The admin wraps this view in its own transaction; the pin service owns a durable
        # one (it locks the member row), which cannot nest. Saving does nothing else here.
        return self._changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        member_tier_pin(member=obj.member, floor=obj.floor, staff_user=request.user)


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "changed_at",
        "member",
        "from_tier",
        "to_tier",
        "reason",
        "qualifying_value",
        "detail",
        "actor_user",
    )
    list_filter = ("reason", "to_tier")
    search_fields = ("member__external_id",)
    list_select_related = ("member", "from_tier", "to_tier", "actor_user")
    ordering = ("-changed_at", "-id")
    date_hierarchy = "changed_at"


# --- the reward catalog and vouchers ------------------------------------------------------


@admin.register(Reward)
class RewardAdmin(AuditedAdmin):
    list_display = (
        "name",
        "points_cost",
        "stock",
        "per_member_limit",
        "starts_at",
        "ends_at",
        "is_active",
        "vouchers_issued",
        "members_used",
        "points_spent",
    )
    list_filter = ("is_active", "tiers")
    search_fields = ("name", "description")
    filter_horizontal = ("tiers", "segments")
    readonly_fields = ("vouchers_issued", "members_used", "points_spent")

    def get_queryset(self, request):
        # Subqueries, not joins: vouchers and redemptions joined together would multiply.
        vouchers = Voucher.objects.filter(reward=OuterRef("pk")).exclude(
            status=Voucher.Status.CANCELLED
        )
        spent = Redemption.objects.filter(reward=OuterRef("pk"), status=Redemption.Status.CAPTURED)

        def scalar(queryset, aggregate):
            value = queryset.values("reward").annotate(value=aggregate).values("value")
            return Coalesce(Subquery(value, output_field=IntegerField()), 0)

        return (
            super()
            .get_queryset(request)
            .annotate(
                vouchers_issued=scalar(vouchers, Count("pk")),
                members_used=scalar(vouchers, Count("member", distinct=True)),
                points_spent=scalar(spent, Sum("points")),
            )
        )

    @admin.display(description=_("vouchers issued"), ordering="vouchers_issued")
    def vouchers_issued(self, reward: Reward) -> int:
        return reward.vouchers_issued

    @admin.display(description=_("members who got it"), ordering="members_used")
    def members_used(self, reward: Reward) -> int:
        return reward.members_used

    @admin.display(description=_("points spent on it"), ordering="points_spent")
    def points_spent(self, reward: Reward) -> int:
        return reward.points_spent

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


class VoucherStatusFilter(admin.SimpleListFilter):
    """The status a till would see: an issued voucher past its expiry is `expired`, a
    state computed at read time, never stored (rewards/vouchers.py)."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            (Voucher.Status.ISSUED, _("Issued (usable)")),
            (EXPIRED, _("Expired")),
            (Voucher.Status.USED, _("Used")),
            (Voucher.Status.CANCELLED, _("Cancelled")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        if self.value() == Voucher.Status.ISSUED:
            return queryset.filter(unexpired, status=Voucher.Status.ISSUED)
        if self.value() == EXPIRED:
            return queryset.filter(status=Voucher.Status.ISSUED, expires_at__lte=now)
        if self.value() in (Voucher.Status.USED, Voucher.Status.CANCELLED):
            return queryset.filter(status=self.value())
        return queryset


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    """Vouchers change only through redemptions, tills and cancels."""

    list_display = (
        "code",
        "reward",
        "member",
        "display_status",
        "issued_at",
        "expires_at",
        "used_at",
        "used_by",
    )
    list_filter = (VoucherStatusFilter, "reward")
    search_fields = ("code", "member__external_id")
    list_select_related = ("reward", "member", "used_by")
    ordering = ("-issued_at",)

    @admin.display(description=_("status"), ordering="status")
    def display_status(self, voucher: Voucher) -> str:
        status = voucher_status_at(voucher, timezone.now())
        return _("Expired") if status == EXPIRED else voucher.get_status_display()

    # The detail page shows the status a till would see, not the stored one.
    exclude = ("status",)
    readonly_fields = ("display_status",)

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        code = voucher_code_normalize(search_term)
        if code:  # a code as the member read it out: any case, spaces, no hyphens
            results |= queryset.filter(code=code)
        return results, may_have_duplicates


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
        "progressed_at",
        "chunks_done",
        "chunks_total",
        "items_processed",
    )
    list_filter = ("job", "status", "via")
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")


# --- what members did: read-only, linked from the member page -------------------------


class RefundInline(admin.TabularInline):
    model = Refund
    fields = ("refund_id", "amount", "points_reversed", "points_owed", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "order_id",
        "shop",
        "member",
        "amount",
        "currency",
        "points_earned",
        "refunded_amount",
        "points_reversed",
    )
    list_filter = ("shop",)
    search_fields = ("order_id", "member__external_id")
    list_select_related = ("shop", "member")
    ordering = ("-occurred_at", "-id")
    exclude = ("request_hash", "response")
    inlines = (RefundInline,)


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "member", "shop", "reward", "points", "status", "order_id")
    list_filter = ("status", "shop")
    search_fields = ("member__external_id", "order_id")
    list_select_related = ("shop", "member", "reward")
    ordering = ("-created_at",)
    exclude = ("request_hash", "response")


@admin.register(StaffAdjustmentLimit)
class StaffAdjustmentLimitAdmin(AuditedAdmin):
    """How many points each staff user may adjust by hand (rewards.services.adjustments)."""

    list_display = ("user", "max_points_per_adjustment", "max_points_per_day")
    search_fields = ("user__username",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = db_field.related_model.objects.filter(is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# The member page for support and the CSV import live in their own modules; importing them
# here registers them with the admin site.
from rewards import admin_imports, admin_members  # noqa: E402, F401


@admin.register(ActivityType)
class ActivityTypeAdmin(AuditedAdmin):
    list_display = (
        "key",
        "name",
        "points",
        "is_active",
        "cap_per_day",
        "cap_per_month",
        "cap_total",
        "earns_on_feedback",
    )
    list_filter = ("is_active",)
    search_fields = ("key", "name")


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = (
        "activity_id",
        "member",
        "activity_type",
        "shop",
        "occurred_at",
        "points",
        "capped_by",
    )
    list_filter = ("activity_type", "capped_by")
    search_fields = ("activity_id", "member__external_id")
    list_select_related = ("member", "activity_type", "shop")


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = (
        "referred",
        "referrer",
        "status",
        "created_at",
        "resolved_at",
        "referrer_points",
        "referred_points",
    )
    list_filter = ("status",)
    search_fields = ("referred__external_id", "referrer__external_id")
    list_select_related = ("referred", "referrer")


@admin.register(MemberMerge)
class MemberMergeAdmin(ReadOnlyAdmin):
    list_display = ("source", "target", "merged_at", "staff_user", "reason")
    search_fields = ("source__external_id", "target__external_id", "reason")
    list_select_related = ("source", "target", "staff_user")
    readonly_fields = ("source", "target", "merged_at", "staff_user", "reason", "moved")
