"""The staff admin site: named after the program, its index grouped by the work staff do.

Program managers set the program up; support agents look after members. The index shows
each of them the sections they have permissions in, in that order, and the KPI dashboard
one click away. A model no section names keeps its app's own group, after the sections.
"""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_lazy, gettext_noop

DEFAULT_PROGRAM_NAME = "Loyalty program"

# (section name, ((app_label, model object name), ...)); the order is the index's. The
# names are translated when shown; their English gives the sections' ids.
SECTIONS = (
    (
        gettext_noop("Members and support"),
        (
            ("members", "Member"),
            ("rewards", "LedgerEntry"),
            ("rewards", "PointLot"),
            ("rewards", "MemberTier"),
            ("rewards", "TierChange"),
            ("rewards", "Purchase"),
            ("rewards", "Redemption"),
            ("rewards", "Voucher"),
            ("rewards", "Activity"),
            ("rewards", "Referral"),
            ("rewards", "MemberMerge"),
            ("metrics", "Feedback"),
        ),
    ),
    (
        gettext_noop("Program setup"),
        (
            ("rewards", "Program"),
            ("rewards", "Tier"),
            ("rewards", "EarnRule"),
            ("rewards", "Milestone"),
            ("rewards", "ActivityType"),
            ("rewards", "Reward"),
            ("members", "Segment"),
            ("rewards", "StaffAdjustmentLimit"),
        ),
    ),
    (gettext_noop("Shops and API keys"), (("members", "Shop"), ("members", "ShopAPIKey"))),
    (gettext_noop("Onboarding and export"), (("rewards", "CsvImport"),)),
    (
        gettext_noop("Nightly jobs and schedules"),
        (
            ("rewards", "JobRun"),
            ("django_celery_beat", "PeriodicTask"),
            ("django_celery_beat", "CrontabSchedule"),
            ("django_celery_beat", "IntervalSchedule"),
            ("django_celery_beat", "ClockedSchedule"),
            ("django_celery_beat", "SolarSchedule"),
        ),
    ),
    (
        gettext_noop("Webhooks and events"),
        (("events", "WebhookEndpoint"), ("events", "Delivery"), ("events", "Event")),
    ),
    (
        gettext_noop("Metrics"),
        (("metrics", "Dashboard"), ("metrics", "AtRiskMembers"), ("metrics", "KpiSnapshot")),
    ),
    (gettext_noop("Staff accounts"), (("auth", "User"), ("auth", "Group"))),
)

# The KPI dashboard of the metrics app (an admin changelist); linked from the index when
# that app provides it.
DASHBOARD_URL_NAME = "admin:metrics_dashboard_changelist"


def program_name() -> str:
    # Read-only: rendering a page must not create the program's settings row.
    from rewards.models import Program

    name = Program.objects.filter(pk=1).values_list("name", flat=True).first()
    return name or DEFAULT_PROGRAM_NAME


def dashboard_url() -> str | None:
    try:
        return reverse(DASHBOARD_URL_NAME)
    except NoReverseMatch:
        return None


class LoyaltyAdminSite(admin.AdminSite):
    index_title = gettext_lazy("Run the program")

    def each_context(self, request):
        context = super().each_context(request)
        name = program_name()
        context["site_header"] = gettext("%(program)s · staff") % {"program": name}
        context["site_title"] = gettext("%(program)s staff admin") % {"program": name}
        context["dashboard_url"] = dashboard_url() if request.user.is_active else None
        return context

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        models = {
            (app["app_label"], model["object_name"]): model
            for app in apps
            for model in app["models"]
        }
        sections, placed = [], set()
        for name, keys in SECTIONS:
            found = [models[key] for key in keys if key in models]
            if found:
                placed.update(key for key in keys if key in models)
                slug = slugify(name)
                sections.append(
                    {
                        "name": gettext(name),
                        # The templates use app_label in ids and classes only.
                        "app_label": slug,
                        "app_url": f"{reverse('admin:index', current_app=self.name)}#{slug}",
                        "has_module_perms": True,
                        "models": found,
                    }
                )
        for app in apps:
            rest = [m for m in app["models"] if (app["app_label"], m["object_name"]) not in placed]
            if rest:
                sections.append({**app, "models": rest})
        return sections
