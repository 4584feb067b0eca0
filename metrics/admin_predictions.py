"""The at-risk page and the segments in the admin."""

import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from members.models import Segment
from members.segments import (
    FIELDS,
    LANGUAGE_CODES,
    OPS,
    ConditionError,
    conditions_validate,
)
from metrics.charts import Series, chart_svg, legend
from metrics.errors import ModelNotFitted
from metrics.models import AtRiskMembers
from metrics.predictions.selectors import (
    member_at_risk_list,
    prediction_fit_current_get,
    prediction_fit_latest_get,
)
from metrics.segments.services import segment_copy, segments_recompute, winback_campaign_create
from rewards.selectors import program_get

AT_RISK_ROWS = 100


def segment_in_use(segment: Segment) -> bool:
    from rewards.models import EarnRule, Milestone, Reward

    return any(
        model.objects.filter(segments=segment).exists() for model in (EarnRule, Reward, Milestone)
    )


def holdout_chart(holdout: dict | None):
    """Predicted against actual mean purchases in the holdout weeks, per number of repeat
    purchases in the calibration period."""
    if not holdout or not holdout.get("by_frequency"):
        return None
    groups = holdout["by_frequency"]
    series = [
        Series(
            key="predicted",
            label=_("Predicted"),
            values=[g["predicted"] for g in groups],
            definition=_("Mean purchases the model fitted before the holdout predicted."),
            color="#2563eb",
        ),
        Series(
            key="actual",
            label=_("Actual"),
            values=[g["actual"] for g in groups],
            definition=_("Mean purchases the members made in the holdout weeks."),
            color="#16a34a",
        ),
    ]
    title = _("Holdout: %(weeks)s weeks after %(day)s") % {
        "weeks": holdout["weeks"],
        "day": holdout["calibration_end"],
    }
    return {
        "title": title,
        "legend": legend(series),
        "svg": chart_svg(
            chart_id="chart-holdout",
            title=title,
            labels=[g["repeat_purchases"] for g in groups],
            series=series,
            kind="bars",
        ),
    }


@admin.register(AtRiskMembers)
class AtRiskAdmin(admin.ModelAdmin):
    """Members ranked by predicted value lost, the model's holdout check, a CSV export and
    the win-back button. Reading needs the view permission; the button needs permission
    to add earn rules."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST" and "winback" in request.POST:
            if not request.user.has_perm("rewards.add_earnrule"):
                raise PermissionDenied
            rule = winback_campaign_create()
            messages.success(
                request,
                _("A win-back earn rule was drafted, switched off: review it and switch it on."),
            )
            return HttpResponseRedirect(reverse("admin:rewards_earnrule_change", args=[rule.pk]))
        rows = member_at_risk_list()
        if request.GET.get("format") == "csv":
            return self.csv_export(rows)
        try:
            fit = prediction_fit_current_get()
        except ModelNotFitted:
            fit = None
        latest = prediction_fit_latest_get()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("At-risk members"),
            "program": program_get(),
            "fit": fit,
            "failed": latest if latest is not None and not latest.converged else None,
            "holdout": holdout_chart(fit.holdout if fit else None),
            "rows": list(rows[:AT_RISK_ROWS]),
            "total": rows.count(),
            "can_winback": request.user.has_perm("rewards.add_earnrule"),
        }
        return TemplateResponse(request, "admin/metrics/at_risk.html", context)

    @staticmethod
    def csv_export(rows) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="at-risk-members.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "external_id",
                "value_at_risk",
                "historical_value",
                "p_alive",
                "expected_purchases_365d",
                "predicted_clv_12m",
            ]
        )
        for row in rows.iterator(chunk_size=2000):
            writer.writerow(
                [
                    row.member.external_id,
                    f"{row.value_at_risk:.2f}",
                    f"{row.historical_value:.2f}",
                    f"{row.p_alive:.4f}",
                    f"{row.expected_purchases_365d:.4f}",
                    f"{row.predicted_clv_12m:.2f}",
                ]
            )
        return response


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ("name", "description", "conditions", "is_active")
        help_texts = {
            "conditions": _(
                'A list of {"field", "op", "value"}, all of which must hold. Fields: '
                "%(fields)s. Ops: %(ops)s."
            )
            % {"fields": ", ".join(FIELDS), "ops": ", ".join(OPS)}
            + " "
            + _(
                "language is the language the member reads (their own, else the program's "
                'default), compared with eq, ne or in: {"field": "language", "op": "eq", '
                '"value": "sv"}; the codes: %(codes)s.'
            )
            % {"codes": ", ".join(LANGUAGE_CODES)},
        }

    def clean_conditions(self):
        try:
            return conditions_validate(self.cleaned_data["conditions"])
        except ConditionError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    # The change form counts the members the conditions select as staff type
    # (POST /api/v1/segments/preview, which writes nothing).
    change_form_template = "admin/members/segment/change_form.html"
    list_display = ("name", "is_builtin", "is_active", "member_count", "computed_at")
    list_filter = ("is_builtin", "is_active")
    search_fields = ("name",)
    readonly_fields = ("member_count", "computed_at")
    actions = ["copy_segments", "recompute_segments"]

    def get_queryset(self, request):
        from django.db.models import Count, Q

        return (
            super()
            .get_queryset(request)
            .annotate(current=Count("memberships", filter=Q(memberships__left_on__isnull=True)))
        )

    @admin.display(description=_("Members now"), ordering="current")
    def member_count(self, segment) -> int:
        return getattr(segment, "current", 0)

    def get_actions(self, request):
        # Deleted one by one only, so has_delete_permission sees each segment.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        # A rule, reward or milestone limited to a deleted segment would silently become
        # open to every member: such a segment is kept until they no longer use it.
        if obj is not None and segment_in_use(obj):
            return False
        return super().has_delete_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        # Built-in segments are templates: copy them instead.
        if obj is not None and obj.is_builtin:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # On demand: the members as of now, so the count shows at once.
        if obj.is_active and not obj.is_builtin:
            segments_recompute(segment_ids=[obj.pk])

    @admin.action(description=_("Copy the selected segments (to use a built-in one)"))
    def copy_segments(self, request, queryset):
        for segment in queryset:
            copy = segment_copy(segment=segment)
            segments_recompute(segment_ids=[copy.pk])
        self.message_user(request, _("Copied."), messages.SUCCESS)

    @admin.action(description=_("Recompute the members of the selected segments now"))
    def recompute_segments(self, request, queryset):
        segments_recompute(segment_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("Recomputed."), messages.SUCCESS)
