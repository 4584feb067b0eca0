"""The reward catalog and the vouchers a redemption issues."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty_engine.history import audit_trail
from members.models import Member, Segment, Shop
from rewards.models.ledger import Redemption
from rewards.models.program import Window, window_ordered
from rewards.models.tiers import Tier


class Reward(Window):
    """An item of the catalog that members redeem points for, as a voucher."""

    name = models.CharField(verbose_name=_("name"), max_length=100, unique=True)
    description = models.TextField(verbose_name=_("description"), blank=True)
    image_url = models.URLField(verbose_name=_("image url"), blank=True)
    points_cost = models.PositiveIntegerField(
        verbose_name=_("points cost"), validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)
    stock = models.PositiveIntegerField(
        verbose_name=_("stock"),
        null=True,
        blank=True,
        help_text=_("Vouchers left to issue. Empty: unlimited."),
    )
    per_member_limit = models.PositiveIntegerField(
        verbose_name=_("per member limit"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Most vouchers of this reward one member may hold (cancelled ones don't count)."
        ),
    )
    tiers = models.ManyToManyField(
        Tier,
        verbose_name=_("tiers"),
        blank=True,
        related_name="+",
        help_text=_("Empty: members of every tier."),
    )
    segments = models.ManyToManyField(
        Segment,
        verbose_name=_("segments"),
        blank=True,
        related_name="+",
        help_text=_("Empty: every member. Otherwise members in at least one of these segments."),
    )
    voucher_valid_days = models.PositiveIntegerField(
        verbose_name=_("voucher valid days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Days a voucher can be used after it is issued. Empty: no limit."),
    )

    history = audit_trail(m2m_fields=[tiers, segments])

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["points_cost", "name"]
        constraints = [
            window_ordered("reward_window_ordered"),
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_cost_positive"),
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0), name="reward_stock_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Voucher(models.Model):
    """Proof of a reward, used once at a till. Issued by a redemption or a milestone."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        USED = "used", _("Used")
        CANCELLED = "cancelled", _("Cancelled")

    code = models.CharField(verbose_name=_("code"), max_length=32, unique=True)
    reward = models.ForeignKey(
        Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="vouchers"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="vouchers"
    )
    redemption = models.OneToOneField(
        Redemption,
        verbose_name=_("redemption"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="voucher",
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status, default=Status.ISSUED
    )
    issued_at = models.DateTimeField(verbose_name=_("issued at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"), null=True, blank=True)
    used_at = models.DateTimeField(verbose_name=_("used at"), null=True, blank=True)
    used_by = models.ForeignKey(
        Shop,
        verbose_name=_("used by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(verbose_name=_("cancelled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        indexes = [models.Index(fields=["member", "-issued_at"], name="voucher_member_newest")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="used") | Q(used_at__isnull=False, used_by__isnull=False),
                name="voucher_used_has_when_and_where",
            ),
        ]

    def __str__(self) -> str:
        return self.code
