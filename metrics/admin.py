from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import Member
from metrics.apis import KpiQuerySerializer
from metrics.charts import PALETTE, Series, chart_svg, heat_color, legend
from metrics.definitions import DEFINITIONS
from metrics.models import Dashboard, Feedback, KpiSnapshot
from metrics.periods import Granularity, period_containing
from metrics.selectors import (
    cohort_matrix_get,
    kpi_segment_snapshot_list,
    kpi_snapshot_list,
    member_lifetime_value_annotation,
    referral_kpis_get,
)
from rewards.admin_members import MemberAdmin
from rewards.selectors import program_get


def _staff(request) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


# The numbers the dashboard tabulates, in order; each header and cell carries its definition.
TABLE_FIELDS = [
    "active_start",
    "active_end",
    "new_active",
    "lost",
    "retention_rate",
    "churn_rate",
    "repeat_purchase_rate",
    "purchase_frequency",
    "average_order_value",
    "net_revenue",
    "customer_lifetime_value",
    "members_total",
    "members_enrolled",
    "points_issued",
    "points_redeemed",
    "points_expired",
    "points_outstanding",
    "points_liability",
    "redemption_rate",
    "breakage_rate",
    "burn_earn_ratio",
    "nps",
    "csat",
]
CARD_FIELDS = [
    "retention_rate",
    "churn_rate",
    "active_end",
    "net_revenue",
    "points_liability",
    "redemption_rate",
    "nps",
    "csat",
]


def _value(snapshot: KpiSnapshot, field: str):
    if field == "lost":
        if snapshot.active_start is None or snapshot.retained is None:
            return None
        return snapshot.active_start - snapshot.retained
    return getattr(snapshot, field)


def _display(value, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "rate":
        return f"{value:.2f}%"
    if kind in ("money", "ratio"):
        return f"{value:,.2f}"
    return f"{value:,}"


def _cell(field: str, value) -> dict:
    definition = DEFINITIONS[field]
    return {
        "field": field,
        "label": definition.label,
        "definition": definition.text,
        "text": _display(value, definition.kind),
    }


def _charts(snapshots: list[KpiSnapshot], currency: str) -> list[dict]:
    labels = [_period_label(s) for s in snapshots]

    def series(field: str, label: str | None = None, color: str = "") -> Series:
        return Series(
            key=field,
            label=label or DEFINITIONS[field].label,
            values=[_value(s, field) for s in snapshots],
            definition=DEFINITIONS[field].text,
            color=color,
        )

    tiers: list[str | None] = []
    for snapshot in snapshots:
        for row in snapshot.tier_distribution or []:
            if row["tier"] not in tiers:
                tiers.append(row["tier"])
    tier_series = [
        Series(
            key=f"tier-{tier or 'none'}",
            label=tier or _("No tier"),
            values=[
                next((r["members"] for r in s.tier_distribution or [] if r["tier"] == tier), None)
                for s in snapshots
            ],
            definition=DEFINITIONS["tier_distribution"].text,
        )
        for tier in tiers
    ]
    specs = [
        (
            "retention",
            _("Retention and churn"),
            [
                series("retention_rate", color="#16a34a"),
                series("churn_rate", color="#dc2626"),
            ],
            "line",
            "%",
            100.0,
        ),
        (
            "members",
            _("Active, new and lost members"),
            [
                series("active_end", color="#2563eb"),
                series("new_active", color="#16a34a"),
                series("lost", color="#dc2626"),
            ],
            "bars",
            "",
            None,
        ),
        (
            "points",
            _("Points issued, redeemed and expired"),
            [
                series("points_issued", color="#2563eb"),
                series("points_redeemed", color="#16a34a"),
                series("points_expired", color="#9ca3af"),
            ],
            "bars",
            "",
            None,
        ),
        (
            "liability",
            _("Liability (%(currency)s)") % {"currency": currency},
            [series("points_liability", color="#9333ea")],
            "line",
            "money",
            None,
        ),
        ("tiers", _("Tier distribution"), tier_series, "stacked", "", None),
    ]
    return [
        {
            "id": chart_id,
            "title": title,
            "legend": legend(chart_series),
            "svg": chart_svg(
                chart_id=f"chart-{chart_id}",
                title=title,
                labels=labels,
                series=chart_series,
                kind=kind,
                unit=unit,
                y_max=y_max,
            ),
        }
        for chart_id, title, chart_series, kind, unit, y_max in specs
    ]


# Each segment's retention and churn, for its members on the first day of each period.
SEGMENT_TABLE_FIELDS = ["active_start", "retained", "lost", "retention_rate", "churn_rate"]
# A line per segment, each its own colour: more would repeat colours, so the largest draw.
SEGMENT_CHART_LIMIT = len(PALETTE)
ALL_MEMBERS_COLOR = "#111827"


def _segments(snapshots: list[KpiSnapshot], segment_snapshots: list[KpiSnapshot]) -> dict:
    """Retention and churn per segment over the dashboard's periods, beside all members':
    two line charts (the largest segments of the latest period) and a table of every
    segment in the latest period."""
    starts = [s.period_start for s in snapshots]
    labels = [_period_label(s) for s in snapshots]
    by_segment: dict[int, dict] = {}
    names: dict[int, str] = {}
    for row in segment_snapshots:
        by_segment.setdefault(row.segment_id, {})[row.period_start] = row
        names[row.segment_id] = row.segment.name
    latest = starts[-1]

    def size(segment_id: int) -> int:
        row = by_segment[segment_id].get(latest)
        return row.members_total or 0 if row else 0

    order = sorted(by_segment, key=lambda pk: (-size(pk), names[pk]))
    members_definition = _(
        "Members in the segment on the first day of the period (entered on or before it and "
        "not left by it). The segment's figures count these members only."
    )
    charts = []
    for field in ("retention_rate", "churn_rate"):
        definition = DEFINITIONS[field]
        series = [
            Series(
                key="all",
                label=_("All members"),
                values=[getattr(s, field) for s in snapshots],
                definition=str(definition.text),
                color=ALL_MEMBERS_COLOR,
            ),
            *(
                Series(
                    key=f"segment-{pk}",
                    label=names[pk],
                    values=[getattr(by_segment[pk].get(start), field, None) for start in starts],
                    definition=str(definition.text),
                    color=PALETTE[n % len(PALETTE)],
                )
                for n, pk in enumerate(order[:SEGMENT_CHART_LIMIT])
            ),
        ]
        chart_id = f"segment-{field.removesuffix('_rate')}"
        title = _("%(figure)s per segment") % {"figure": definition.label}
        charts.append(
            {
                "id": chart_id,
                "title": title,
                "legend": legend(series),
                "svg": chart_svg(
                    chart_id=f"chart-{chart_id}",
                    title=title,
                    labels=labels,
                    series=series,
                    kind="line",
                    unit="%",
                    y_max=100.0,
                ),
            }
        )
    rows = []
    for pk in order:
        row = by_segment[pk].get(latest)
        rows.append(
            {
                "name": names[pk],
                "members": {
                    "text": _display(row.members_total if row else None, "count"),
                    "label": _("Members on the first day"),
                    "definition": members_definition,
                },
                "cells": [_cell(f, _value(row, f) if row else None) for f in SEGMENT_TABLE_FIELDS],
            }
        )
    return {
        "charts": charts,
        "drawn": min(len(order), SEGMENT_CHART_LIMIT),
        "count": len(order),
        "members_label": _("Members on the first day"),
        "members_definition": members_definition,
        "columns": [_cell(f, None) for f in SEGMENT_TABLE_FIELDS],
        "rows": rows,
    }


def _period_label(snapshot: KpiSnapshot) -> str:
    return period_containing(snapshot.granularity, snapshot.period_start).label


def _cohort_rows(cohorts: list[dict]) -> tuple[list[int], list[dict]]:
    offsets = sorted({m["offset"] for row in cohorts for m in row["months"]})
    rows = []
    for row in cohorts:
        by_offset = {m["offset"]: m for m in row["months"]}
        cells = []
        for offset in offsets:
            month = by_offset.get(offset)
            rate = month["retention_rate"] if month else None
            cells.append(
                {
                    "offset": offset,
                    "month": month["month"] if month else None,
                    "active": month["active"] if month else None,
                    "rate": rate,
                    "text": "" if month is None else (f"{rate:.0f}%" if rate is not None else "–"),
                    "color": heat_color(rate) if month else "#ffffff",
                    "dark": rate is not None and rate >= 55,
                }
            )
        rows.append({"cohort": row["cohort"], "members": row["members"], "cells": cells})
    return offsets, rows


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """The KPI dashboard: read by staff with the view permission on it (superusers and the
    "Program manager" group), and it writes nothing."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # This view replaces the admin's changelist, and with it the admin's own check.
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = KpiQuerySerializer(
            data={k: v for k, v in request.GET.items() if k in ("granularity", "from", "to")}
        )
        errors = {}
        if not query.is_valid():
            errors = {field: [str(e) for e in problems] for field, problems in query.errors.items()}
            query = KpiQuerySerializer(data={})
            query.is_valid(raise_exception=True)
        data = query.validated_data
        program = program_get()
        snapshots = list(
            kpi_snapshot_list(
                granularity=data["granularity"], first=data["first"], last=data["last"]
            )
        )
        latest = snapshots[-1] if snapshots else None
        segment_snapshots = list(
            kpi_segment_snapshot_list(
                granularity=data["granularity"], first=data["first"], last=data["last"]
            )
        )
        offsets, cohort_rows = _cohort_rows(
            cohort_matrix_get(first=data["first"], last=data["last"])
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("KPI dashboard"),
            "granularities": Granularity.ALL,
            "granularity": data["granularity"],
            "first": data["first"],
            "last": data["last"],
            "errors": errors,
            "program": program,
            "snapshots": snapshots,
            "latest": latest,
            "latest_label": _period_label(latest) if latest else "",
            "cards": [_cell(f, _value(latest, f)) for f in CARD_FIELDS] if latest else [],
            "charts": _charts(snapshots, program.currency) if snapshots else [],
            "columns": [_cell(f, None) for f in TABLE_FIELDS],
            "rows": [
                {
                    "label": _period_label(s),
                    "cells": [_cell(f, _value(s, f)) for f in TABLE_FIELDS],
                }
                for s in snapshots
            ],
            "segments": (
                _segments(snapshots, segment_snapshots) if snapshots and segment_snapshots else None
            ),
            "cohort_offsets": offsets,
            "cohort_rows": cohort_rows,
            "cohort_definition": DEFINITIONS["cohort_retention"].text,
            "window_days": program.activity_window_days,
            "referrals": referral_kpis_get(first=data["first"], last=data["last"], tz=program.tz),
        }
        return TemplateResponse(request, "admin/metrics/dashboard.html", context)


@admin.register(KpiSnapshot)
class KpiSnapshotAdmin(admin.ModelAdmin):
    """The stored snapshots, read-only: `manage.py recompute_kpis` and the nightly job
    write them."""

    list_display = (
        "granularity",
        "period_start",
        "breakdown",
        "tier",
        "shop",
        "segment",
        "active_end",
        "retention_rate",
        "net_revenue",
        "points_outstanding",
        "computed_at",
    )
    list_filter = ("granularity", "breakdown")
    list_select_related = ("tier", "shop", "segment")
    ordering = ("-period_start", "granularity", "group_key")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("answered_at", "member", "shop", "kind", "score", "comment")
    list_filter = ("kind", "shop")
    search_fields = ("member__external_id", "feedback_id")
    list_select_related = ("member", "shop")
    ordering = ("-answered_at",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The member's historical lifetime value on the member admin, from this app (members must
# not depend on metrics).
admin.site.unregister(Member)


@admin.register(Member)
class MemberWithValueAdmin(MemberAdmin):
    list_display = (*MemberAdmin.list_display, "lifetime_value")
    readonly_fields = (*MemberAdmin.readonly_fields, "lifetime_value")

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(net_revenue=member_lifetime_value_annotation())
        )

    @admin.display(description=gettext_lazy("Lifetime value"), ordering="net_revenue")
    def lifetime_value(self, member) -> str:
        return f"{member.net_revenue:,.2f}"


from metrics import admin_predictions  # noqa: E402, F401
