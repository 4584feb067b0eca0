"""KPI snapshots, cohort cells and survey answers.

Snapshots are derived data: `metrics.services` recomputes them from purchases, refunds,
the ledger, the tier history and feedback, and overwrites them whole. The definitions of
every figure are in `metrics.definitions`.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.models import Member, Segment, Shop
from metrics.periods import Granularity
from rewards.models import IdempotentRecord, Tier


def rate_field(**kwargs) -> models.DecimalField:
    """A percentage with two decimals; null when it has no denominator."""
    return models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True, **kwargs)


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True, **kwargs)


def count_field(**kwargs) -> models.BigIntegerField:
    return models.BigIntegerField(null=True, blank=True, **kwargs)


class KpiSnapshot(models.Model):
    """The KPIs of one period of one granularity, for all members, for the members of one
    tier or one segment (theirs at the start of the period) or for the purchases and points
    of one shop. A figure that does not apply to a breakdown (retention for a shop) is
    null; a segment has only the member figures of retention and churn."""

    class Breakdown(models.TextChoices):
        ALL = "all", _("All members")
        TIER = "tier", _("Tier at the start of the period")
        SHOP = "shop", _("Shop")
        SEGMENT = "segment", _("Segment at the start of the period")

    granularity = models.CharField(
        verbose_name=_("granularity"), max_length=8, choices=Granularity.CHOICES
    )
    period_start = models.DateField(
        verbose_name=_("period start"), help_text=_("First day, in the program's time zone.")
    )
    period_end = models.DateField(
        verbose_name=_("period end"), help_text=_("First day of the next period (not included).")
    )
    breakdown = models.CharField(verbose_name=_("breakdown"), max_length=8, choices=Breakdown)
    # "all", "tier:<id>", "tier:none", "shop:<id>" or "segment:<id>": one key per row of a
    # period, so the unique constraint holds without comparing nulls.
    group_key = models.CharField(verbose_name=_("group key"), max_length=32)
    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    shop = models.ForeignKey(
        Shop,
        verbose_name=_("shop"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    active_start = count_field(verbose_name=_("active start"))
    active_end = count_field(verbose_name=_("active end"))
    new_active = count_field(verbose_name=_("new active"))
    retained = count_field(verbose_name=_("retained"))
    retention_rate = rate_field(verbose_name=_("retention rate"))
    churn_rate = rate_field(verbose_name=_("churn rate"))

    purchases = count_field(verbose_name=_("purchases"))
    purchasing_members = count_field(verbose_name=_("purchasing members"))
    repeat_members = count_field(verbose_name=_("repeat members"))
    repeat_purchase_rate = rate_field(verbose_name=_("repeat purchase rate"))
    purchase_frequency = models.DecimalField(
        verbose_name=_("purchase frequency"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    purchase_amount = money_field(verbose_name=_("purchase amount"))
    refund_amount = money_field(verbose_name=_("refund amount"))
    average_order_value = money_field(verbose_name=_("average order value"))
    net_revenue = money_field(verbose_name=_("net revenue"))
    customer_lifetime_value = money_field(verbose_name=_("customer lifetime value"))

    members_total = count_field(verbose_name=_("members total"))
    members_enrolled = count_field(verbose_name=_("members enrolled"))
    tier_distribution = models.JSONField(verbose_name=_("tier distribution"), null=True, blank=True)

    points_issued = count_field(verbose_name=_("points issued"))
    points_redeemed = count_field(verbose_name=_("points redeemed"))
    points_expired = count_field(verbose_name=_("points expired"))
    points_issued_to_date = count_field(verbose_name=_("points issued to date"))
    points_redeemed_to_date = count_field(verbose_name=_("points redeemed to date"))
    points_expired_to_date = count_field(verbose_name=_("points expired to date"))
    points_outstanding = count_field(verbose_name=_("points outstanding"))
    points_liability = money_field(verbose_name=_("points liability"))
    redemption_rate = rate_field(verbose_name=_("redemption rate"))
    breakage_rate = rate_field(verbose_name=_("breakage rate"))
    burn_earn_ratio = rate_field(verbose_name=_("burn earn ratio"))

    nps = models.DecimalField(
        verbose_name=_("nps"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    nps_responses = count_field(verbose_name=_("nps responses"))
    csat = rate_field(verbose_name=_("csat"))
    csat_responses = count_field(verbose_name=_("csat responses"))

    computed_at = models.DateTimeField(verbose_name=_("computed at"))

    class Meta:
        verbose_name = _("kpi snapshot")
        verbose_name_plural = _("kpi snapshots")
        constraints = [
            models.UniqueConstraint(
                fields=["granularity", "period_start", "group_key"], name="kpi_snapshot_unique"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=models.F("period_start")),
                name="kpi_snapshot_period_ordered",
            ),
        ]
        indexes = [models.Index(fields=["granularity", "breakdown", "period_start"])]

    def __str__(self) -> str:
        return f"{self.granularity} {self.period_start} {self.group_key}"


class CohortCell(models.Model):
    """How many members of one monthly enrollment cohort were active in one month."""

    cohort = models.DateField(help_text=_("First day of the enrollment month."))
    month = models.DateField(help_text=_("First day of the month counted."))
    members = models.BigIntegerField(help_text=_("Members enrolled in the cohort's month."))
    active = models.BigIntegerField(
        help_text=_("Of them, members with a purchase, not fully refunded, in the month.")
    )
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cohort", "month"], name="cohort_cell_unique"),
            models.CheckConstraint(
                condition=Q(month__gte=models.F("cohort")), name="cohort_cell_after_enrollment"
            ),
        ]

    def __str__(self) -> str:
        return f"cohort {self.cohort:%Y-%m} in {self.month:%Y-%m}"


class Dashboard(KpiSnapshot):
    """The admin's entry for the KPI dashboard (metrics/admin.py); no table of its own."""

    class Meta:
        proxy = True
        verbose_name = _("KPI dashboard")
        verbose_name_plural = _("KPI dashboard")


class Feedback(IdempotentRecord):
    """A member's answer to a survey, posted by a shop.

    `feedback_id` is the shop's optional id for the answer: posting the same id again
    replays the first answer instead of counting it twice.
    """

    class Kind(models.TextChoices):
        NPS = "nps", _("Net Promoter Score (0-10)")
        CSAT = "csat", _("Customer satisfaction (1-5)")

    SCALES = {Kind.NPS: (0, 10), Kind.CSAT: (1, 5)}

    shop = models.ForeignKey(
        Shop, verbose_name=_("shop"), on_delete=models.PROTECT, related_name="feedback"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="feedback"
    )
    feedback_id = models.CharField(
        verbose_name=_("feedback id"), max_length=64, blank=True, default=""
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=8, choices=Kind)
    score = models.PositiveSmallIntegerField(
        verbose_name=_("score"), validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    comment = models.TextField(verbose_name=_("comment"), blank=True)
    answered_at = models.DateTimeField(verbose_name=_("answered at"))
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "feedback_id"],
                condition=~Q(feedback_id=""),
                name="feedback_id_unique_per_shop",
            ),
            models.CheckConstraint(
                condition=Q(kind="nps", score__gte=0, score__lte=10)
                | Q(kind="csat", score__gte=1, score__lte=5),
                name="feedback_score_on_its_scale",
            ),
        ]
        indexes = [models.Index(fields=["answered_at"], name="feedback_answered")]

    def __str__(self) -> str:
        return f"{self.kind} {self.score} from {self.member_id}"


class PredictionFit(models.Model):
    """One fit of the BG/NBD and Gamma-Gamma models (metrics/predictions), as of the end of
    a day. A fit that did not converge is kept with `converged` false and its `error`, so
    the run log and the dashboard can say so; the members' predictions stay those of the
    last converged fit."""

    as_of = models.DateField(help_text=_("Last day of purchases counted, in the program's zone."))
    time_unit = models.CharField(max_length=8, default="week")
    members = models.BigIntegerField(help_text=_("Members with a purchase, fitted on."))
    repeat_members = models.BigIntegerField(help_text=_("Of them, with a repeat purchase."))
    converged = models.BooleanField()
    error = models.TextField(blank=True)
    r = models.FloatField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True)
    a = models.FloatField(null=True, blank=True)
    b = models.FloatField(null=True, blank=True)
    bg_nbd_log_likelihood = models.FloatField(null=True, blank=True)
    p = models.FloatField(null=True, blank=True)
    q = models.FloatField(null=True, blank=True)
    gamma = models.FloatField(null=True, blank=True)
    gamma_gamma_log_likelihood = models.FloatField(null=True, blank=True)
    # {"weeks", "calibration_end", "members", "predicted", "actual", "by_frequency": [...]}
    holdout = models.JSONField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["converged", "-created_at"], name="prediction_fit_latest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(converged=False)
                | Q(r__gt=0, alpha__gt=0, a__gt=0, b__gt=0, p__gt=0, q__gt=1, gamma__gt=0),
                name="prediction_fit_converged_has_parameters",
            ),
        ]

    def __str__(self) -> str:
        return f"fit as of {self.as_of} ({'converged' if self.converged else 'failed'})"


class MemberPrediction(models.Model):
    """A member's scores from the last converged fit. Only members with a purchase have a
    row: the others get null, not a guess. Rewritten whole by each converged fit."""

    member = models.OneToOneField(
        Member,
        verbose_name=_("member"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="prediction",
    )
    fit = models.ForeignKey(
        PredictionFit, verbose_name=_("fit"), on_delete=models.CASCADE, related_name="+"
    )
    repeat_purchases = models.IntegerField(
        verbose_name=_("repeat purchases"), help_text=_("x: purchase days after the first.")
    )
    recency = models.FloatField(
        verbose_name=_("recency"), help_text=_("t_x in the fit's time unit.")
    )
    age = models.FloatField(verbose_name=_("age"), help_text=_("T in the fit's time unit."))
    p_alive = models.FloatField(verbose_name=_("p alive"))
    expected_purchases_90d = models.FloatField(verbose_name=_("expected purchases 90d"))
    expected_purchases_365d = models.FloatField(verbose_name=_("expected purchases 365d"))
    expected_spend = models.DecimalField(
        verbose_name=_("expected spend"), max_digits=18, decimal_places=4
    )
    predicted_clv_12m = models.DecimalField(
        verbose_name=_("predicted clv 12m"), max_digits=18, decimal_places=4
    )
    historical_value = models.DecimalField(
        verbose_name=_("historical value"),
        max_digits=18,
        decimal_places=4,
        help_text=_("Net spend up to the fit's day."),
    )
    value_at_risk = models.DecimalField(
        verbose_name=_("value at risk"),
        max_digits=18,
        decimal_places=4,
        help_text=_("Historical value × (1 − P(alive)): what the program loses if they left."),
    )

    class Meta:
        verbose_name = _("member prediction")
        verbose_name_plural = _("member predictions")
        indexes = [models.Index(fields=["-value_at_risk"], name="prediction_value_at_risk")]
        constraints = [
            models.CheckConstraint(
                condition=Q(p_alive__gte=0, p_alive__lte=1), name="prediction_p_alive_range"
            ),
        ]

    def __str__(self) -> str:
        return f"prediction of {self.member_id}"


class AtRiskMembers(MemberPrediction):
    """The admin's entry for the at-risk page (metrics/admin_predictions.py); no table."""

    class Meta:
        proxy = True
        verbose_name = _("At-risk members")
        verbose_name_plural = _("At-risk members")
