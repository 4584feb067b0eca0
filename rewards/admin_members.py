"""Staff screens for members, shops and their API keys.

The member page is the support agent's tool: balances, lots, the ledger and everything the
member did, on one page, and the actions (adjust points, suspend, reactivate, erase), each
a call to the same service the API uses. Those views run outside the admin's own
transaction: the services open durable ones, which cannot nest.
"""

from datetime import timedelta

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from rest_framework_api_key.admin import APIKeyModelAdmin

from loyalty_engine.audit_admin import AuditedAdmin
from loyalty_engine.errors import DomainError
from members.forms import MemberEraseForm, MemberMergeForm, MemberStatusForm, PointsAdjustForm
from members.models import BALANCE_FIELDS, Member, Shop, ShopAPIKey
from members.referral_codes import referral_code_for
from members.services import member_erase, member_reactivate, member_suspend
from rewards.services.merges import member_merge

LEDGER_PAGE_SIZE = 20
RECENT_ROWS = 20


@admin.register(Shop)
class ShopAdmin(AuditedAdmin):
    list_display = ("name", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)


@admin.register(ShopAPIKey)
class ShopAPIKeyAdmin(AuditedAdmin, APIKeyModelAdmin):
    """Adding a key shows it once in the success message; revoking is a checkbox, kept in
    the key's history with who revoked it."""

    list_display = (*APIKeyModelAdmin.list_display, "shop")
    list_filter = (*APIKeyModelAdmin.list_filter, "shop")

    def has_delete_permission(self, request, obj=None):
        # Revoke instead: a deleted key leaves no trace of who used it until when.
        return False


class TierFilter(admin.SimpleListFilter):
    title = gettext_lazy("tier")
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        from rewards.models import Tier

        return [("none", _("No tier")), *((str(t.pk), t.name) for t in Tier.objects.all())]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(tier_state__tier__isnull=True)
        if self.value():
            return queryset.filter(tier_state__tier_id=self.value())
        return queryset


class LastActivityFilter(admin.SimpleListFilter):
    """Last activity is the member's latest purchase, as the KPIs count activity."""

    title = gettext_lazy("last purchase")
    parameter_name = "last_purchase"
    CHOICES = {"30": 30, "90": 90, "365": 365}

    def lookups(self, request, model_admin):
        return [
            ("30", _("In the last 30 days")),
            ("90", _("In the last 90 days")),
            ("365", _("In the last year")),
            ("older", _("More than a year ago")),
            ("never", _("Never")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        now = timezone.now()
        if value in self.CHOICES:
            return queryset.filter(last_purchase_at__gte=now - timedelta(days=self.CHOICES[value]))
        if value == "older":
            return queryset.filter(last_purchase_at__lt=now - timedelta(days=365))
        if value == "never":
            return queryset.filter(last_purchase_at__isnull=True)
        return queryset


@admin.register(Member)
class MemberAdmin(AuditedAdmin):
    list_display = (
        "external_id",
        "name",
        "email",
        "status",
        "tier",
        "points_available",
        "last_purchase_at",
        "enrolled_at",
    )
    list_filter = ("status", TierFilter, LastActivityFilter)
    search_fields = ("external_id", "email", "name")
    list_select_related = ("tier_state__tier",)
    list_per_page = 50
    change_form_template = "admin/members/member/change_form.html"
    change_list_template = "admin/members/member/change_list.html"
    # The balances are shown in the page's own Balance panel, below.
    fieldsets = (
        (None, {"fields": ("external_id", "status", "enrolled_at", "name", "email", "birth_date")}),
        (gettext_lazy("Referrals and merges"), {"fields": ("referral_code", "merged_into")}),
    )
    # Balances are a cache of the ledger: only the ledger services change them. Status
    # changes go through the actions, the external id is the shop's key for the member.
    readonly_fields = (
        "external_id",
        "status",
        *BALANCE_FIELDS,
        "enrolled_at",
        "referral_code",
        "merged_into",
    )

    @admin.display(description=gettext_lazy("referral code"))
    def referral_code(self, member: Member) -> str:
        return referral_code_for(member.pk)

    def get_fieldsets(self, request, obj=None):
        # A read-only field a subclass adds (another app's figure) is shown too.
        fieldsets = super().get_fieldsets(request, obj)
        listed = {name for _, options in fieldsets for name in options["fields"]}
        extra = [
            name
            for name in self.get_readonly_fields(request, obj)
            if name not in listed and name not in BALANCE_FIELDS
        ]
        return (*fieldsets, (_("More"), {"fields": extra})) if extra else fieldsets

    def get_queryset(self, request):
        from rewards.models import Purchase

        latest = Purchase.objects.filter(member=OuterRef("pk")).order_by("-occurred_at")
        return (
            super()
            .get_queryset(request)
            .annotate(last_purchase_at=Subquery(latest.values("occurred_at")[:1]))
        )

    @admin.display(description=gettext_lazy("tier"), ordering="tier_state__tier__rank")
    def tier(self, member: Member) -> str | None:
        state = getattr(member, "tier_state", None)
        return state.tier.name if state and state.tier else None

    @admin.display(description=gettext_lazy("last purchase"), ordering="last_purchase_at")
    def last_purchase_at(self, member: Member):
        return member.last_purchase_at

    def has_add_permission(self, request):
        # Members enroll through the API or the CSV import (member_enroll: entry tier,
        # sign-up bonus), not a bare form.
        return False

    def has_delete_permission(self, request, obj=None):
        # A member with a ledger is never deleted; erasure removes the personal data.
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status == Member.Status.ERASED:
            return False
        return super().has_change_permission(request, obj)

    # --- the member page ----------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id is not None:
            member = self.get_object(request, unquote(object_id))
            if member is not None and self.has_view_or_change_permission(request, member):
                extra_context.update(self.member_page_context(request, member))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def member_page_context(self, request, member: Member) -> dict:
        from rewards import selectors
        from rewards.ledger_words import entry_description

        user = request.user
        ledger = Paginator(selectors.member_ledger_list(member=member), LEDGER_PAGE_SIZE)
        ledger_page = ledger.get_page(request.GET.get("ledger_page"))
        for entry in ledger_page:
            # In the staff user's language, as the member reads it in theirs.
            entry.description = entry_description(entry)
        purchases = selectors.member_purchase_list(member=member)
        redemptions = selectors.member_redemption_list(member=member)
        vouchers = selectors.voucher_list(member=member)
        state = getattr(member, "tier_state", None)
        return {
            "member": member,
            "tier": state.tier if state else None,
            "tier_floor": state.floor if state else None,
            "lots": selectors.member_open_lot_list(member=member),
            "ledger_page": ledger_page,
            "tier_changes": selectors.member_tier_change_list(member=member)[:RECENT_ROWS],
            "purchases": purchases[:RECENT_ROWS],
            "purchase_count": purchases.count(),
            "redemptions": redemptions[:RECENT_ROWS],
            "redemption_count": redemptions.count(),
            "vouchers": vouchers[:RECENT_ROWS],
            "voucher_count": vouchers.count(),
            "milestone_awards": selectors.member_milestone_award_list(member=member),
            "feedback": member_feedback(member),
            "member_messages": selectors.member_message_list(member=member)[:RECENT_ROWS],
            "can_adjust": user.has_perm("members.adjust_points")
            and member.status != Member.Status.ERASED,
            "can_suspend": user.has_perm("members.suspend_member")
            and member.status == Member.Status.ACTIVE,
            "can_reactivate": user.has_perm("members.suspend_member")
            and member.status == Member.Status.SUSPENDED,
            "can_erase": user.has_perm("members.erase_member")
            and member.status != Member.Status.ERASED,
            "can_export": user.has_perm("members.export_csv"),
            "can_merge": user.has_perm("members.merge_member")
            and member.status in (Member.Status.ACTIVE, Member.Status.SUSPENDED),
        }

    # --- actions: one service each --------------------------------------------------------

    def get_urls(self):
        def view(fn):
            return self.admin_site.admin_view(fn)

        return [
            path("export/", view(self.export_view), name="members_member_export"),
            path("<path:object_id>/adjust/", view(self.adjust_view), name="members_member_adjust"),
            path(
                "<path:object_id>/suspend/",
                view(self.suspend_view),
                name="members_member_suspend",
            ),
            path(
                "<path:object_id>/reactivate/",
                view(self.reactivate_view),
                name="members_member_reactivate",
            ),
            path("<path:object_id>/erase/", view(self.erase_view), name="members_member_erase"),
            path("<path:object_id>/merge/", view(self.merge_view), name="members_member_merge"),
            *super().get_urls(),
        ]

    def _member_for(self, request, object_id, permission: str) -> Member:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        member = self.get_object(request, unquote(object_id))
        if member is None:
            raise Http404("No member has this id.")
        return member

    def _member_url(self, member: Member) -> str:
        return reverse("admin:members_member_change", args=[member.pk])

    def _action_page(self, request, member, form, *, title, button, intro=""):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": member,
            "member": member,
            "title": title,
            "form": form,
            "button": button,
            "intro": intro,
        }
        return TemplateResponse(request, "admin/members/member/action.html", context)

    def adjust_view(self, request, object_id):
        from rewards.services.adjustments import points_adjust

        member = self._member_for(request, object_id, "members.adjust_points")
        form = PointsAdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                entry = points_adjust(
                    member=member,
                    points=form.cleaned_data["points"],
                    reason=form.cleaned_data["reason"],
                    staff_user=request.user,
                )
            except (DomainError, ValueError) as error:
                form.add_error(None, getattr(error, "message", str(error)))
            else:
                messages.success(
                    request,
                    ngettext(
                        "%(points)s point for %(member)s: %(reason)s",
                        "%(points)s points for %(member)s: %(reason)s",
                        abs(entry.points),
                    )
                    % {"points": f"{entry.points:+d}", "member": member, "reason": entry.reason},
                )
                return HttpResponseRedirect(self._member_url(member))
        return self._action_page(
            request,
            member,
            form,
            title=_("Adjust the points of %(member)s") % {"member": member},
            button=_("Adjust points"),
            intro=ngettext(
                "Available now: %(points)s point.",
                "Available now: %(points)s points.",
                member.points_available,
            )
            % {"points": member.points_available},
        )

    def _status_view(self, request, object_id, *, service, title, button, done, intro):
        """`title` and `done` are messages with a %(member)s placeholder."""
        member = self._member_for(request, object_id, "members.suspend_member")
        form = MemberStatusForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                service(member=member, reason=form.cleaned_data["reason"], staff_user=request.user)
            except (DomainError, ValueError) as error:
                form.add_error(None, getattr(error, "message", str(error)))
            else:
                messages.success(request, done % {"member": member})
                return HttpResponseRedirect(self._member_url(member))
        return self._action_page(
            request, member, form, title=title % {"member": member}, button=button, intro=intro
        )

    def suspend_view(self, request, object_id):
        return self._status_view(
            request,
            object_id,
            service=member_suspend,
            title=_("Suspended: %(member)s"),
            button=_("suspended"),
            done=_("%(member)s is suspended."),
            intro=_(
                "A suspended member cannot earn or redeem points, nor sign in to the "
                "member API, until reactivated. Refunds, expiry and staff adjustments still apply."
            ),
        )

    def reactivate_view(self, request, object_id):
        return self._status_view(
            request,
            object_id,
            service=member_reactivate,
            title=_("Reactivated: %(member)s"),
            button=_("reactivated"),
            done=_("%(member)s is reactivated."),
            intro=_("The member can earn and redeem points again."),
        )

    def erase_view(self, request, object_id):
        member = self._member_for(request, object_id, "members.erase_member")
        form = MemberEraseForm(request.POST or None, member=member)
        if request.method == "POST" and form.is_valid():
            member = member_erase(
                member=member, reason=form.cleaned_data["reason"], staff_user=request.user
            )
            messages.success(
                request,
                _("The member's personal data is erased; they are now %(member)s.")
                % {"member": member},
            )
            return HttpResponseRedirect(self._member_url(member))
        return self._action_page(
            request,
            member,
            form,
            title=_("Erase the personal data of %(member)s") % {"member": member},
            button=_("Erase for good"),
            intro=_(
                "The external id becomes a pseudonym; email, name and birth date are "
                "removed, here and in the member's history. The ledger, purchases, vouchers and "
                "the KPIs stay as they are. The member can never earn or redeem again."
            ),
        )

    def merge_view(self, request, object_id):
        member = self._member_for(request, object_id, "members.merge_member")
        form = MemberMergeForm(request.POST or None, member=member)
        if request.method == "POST" and form.is_valid():
            target = form.cleaned_data["target_external_id"]
            try:
                member_merge(
                    source=member,
                    target=target,
                    reason=form.cleaned_data["reason"],
                    staff_user=request.user,
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request,
                    _("%(source)s is merged into %(target)s.")
                    % {"source": member, "target": target},
                )
                return HttpResponseRedirect(self._member_url(target))
        return self._action_page(
            request,
            member,
            form,
            title=_("Merge %(member)s into another member") % {"member": member},
            button=_("Merge for good"),
            intro=_(
                "This member's open points (with their expiry), pending points, holds, owed "
                "points, purchases, vouchers and tier history move to the member who stays, "
                "as ledger entries on both sides. This member's external id then names the "
                "member who stays. A merge cannot be undone."
            ),
        )

    def export_view(self, request):
        from rewards.exports import members_csv_response

        if not request.user.has_perm("members.export_csv"):
            raise PermissionDenied
        # The members the list shows, with its search and filters.
        changelist = self.get_changelist_instance(request)
        return members_csv_response(changelist.get_queryset(request))


def member_feedback(member: Member):
    """The member's survey answers, newest first, once the metrics app records them
    (metrics.Feedback); None while it does not."""
    try:
        feedback = apps.get_model("metrics", "Feedback")
    except LookupError:
        return None
    answers = feedback.objects.filter(member=member).select_related("shop")
    return answers.order_by("-answered_at")[:RECENT_ROWS]
