from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from loyalty_engine.history import audit_trail


class Shop(models.Model):
    """A point of sale or web store that calls the API with its own keys."""

    name = models.CharField(verbose_name=_("name"), max_length=200, unique=True)
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    history = audit_trail()

    class Meta:
        verbose_name = _("shop")
        verbose_name_plural = _("shops")

    def __str__(self) -> str:
        return self.name


class ShopAPIKeyManager(APIKeyManager):
    def get_usable_keys(self):
        # The shop comes along in the same query: every shop request needs it.
        return super().get_usable_keys().select_related("shop")


class ShopAPIKey(AbstractAPIKey):
    """An API key of a shop. Only a hash is stored; the key is shown once when created."""

    objects = ShopAPIKeyManager()
    shop = models.ForeignKey(
        Shop, verbose_name=_("shop"), on_delete=models.CASCADE, related_name="api_keys"
    )
    # Who created or revoked which key, and when. The hash stays out of the trail.
    history = audit_trail(excluded_fields=["hashed_key"])

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("shop API key")
        verbose_name_plural = _("shop API keys")


BALANCE_FIELDS = (
    "points_available",
    "points_pending",
    "points_held",
    "points_owed",
    "lifetime_earned",
)


class Member(models.Model):
    """A customer enrolled in the program.

    The points_* fields are a cache of the ledger kept by rewards.services.ledger under
    the member's row lock; `manage.py verify_ledger` proves them against the entries and lots.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        ERASED = "erased", _("Erased")
        MERGED = "merged", _("Merged into another member")

    external_id = models.CharField(
        verbose_name=_("external id"),
        max_length=64,
        unique=True,
        help_text=_("The shop's customer id for this member."),
    )
    email = models.EmailField(verbose_name=_("email"), max_length=254, blank=True)
    name = models.CharField(verbose_name=_("name"), max_length=200, blank=True)
    birth_date = models.DateField(verbose_name=_("birth date"), null=True, blank=True)
    language = models.CharField(
        verbose_name=_("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        default="",
        # Also in the database: rows inserted by SQL (benchmarks, bulk loads) need no value.
        db_default="",
        help_text=_("The language the member reads. Empty: the program's default language."),
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status, default=Status.ACTIVE
    )
    enrolled_at = models.DateTimeField(verbose_name=_("enrolled at"))
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_members",
        help_text=_(
            "Set when staff merged this member into another: its external id then "
            "names that member in the API (rewards.services.merges)."
        ),
    )
    # Consent to email (rewards.services.messages): transactional messages (welcome,
    # vouchers, points about to expire) and marketing ones (tier changes). Database
    # defaults too, so bulk SQL inserts (bench/) that name no consent still work.
    consent_transactional = models.BooleanField(
        verbose_name=_("consent transactional"), default=True, db_default=True
    )
    consent_marketing = models.BooleanField(
        verbose_name=_("consent marketing"), default=False, db_default=False
    )

    points_available = models.BigIntegerField(verbose_name=_("points available"), default=0)
    points_pending = models.BigIntegerField(verbose_name=_("points pending"), default=0)
    points_held = models.BigIntegerField(verbose_name=_("points held"), default=0)
    points_owed = models.BigIntegerField(verbose_name=_("points owed"), default=0)
    lifetime_earned = models.BigIntegerField(verbose_name=_("lifetime earned"), default=0)

    # Staff changes to a member (contact details, status, erasure), with who and why. The
    # balances are a cache of the ledger, which is its own record: their saves skip the
    # trail (rewards.services.ledger.balance_save).
    history = audit_trail(excluded_fields=[*BALANCE_FIELDS])

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        permissions = [
            ("adjust_points", "Can adjust a member's points"),
            ("suspend_member", "Can suspend and reactivate members"),
            ("erase_member", "Can erase a member's personal data"),
            ("export_csv", "Can export members and the ledger as CSV"),
            ("merge_member", "Can merge a member into another"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_available__gte=0), name="member_available_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(points_pending__gte=0), name="member_pending_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(points_held__gte=0), name="member_held_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(points_owed__gte=0), name="member_owed_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(status="merged") | Q(merged_into__isnull=False),
                name="member_merged_names_its_target",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def points_balance(self) -> int:
        """Points the member owns in lots: available plus pending (held points are spoken for)."""
        return self.points_available + self.points_pending


class Segment(models.Model):
    """A named group of members: those for whom every condition holds (members.segments
    says which conditions exist). metrics computes the memberships, nightly and on demand;
    earn rules and rewards may be limited to segments."""

    name = models.CharField(verbose_name=_("name"), max_length=200, unique=True)
    description = models.TextField(verbose_name=_("description"), blank=True)
    conditions = models.JSONField(verbose_name=_("conditions"), default=list, blank=True)
    is_builtin = models.BooleanField(
        verbose_name=_("is builtin"),
        default=False,
        help_text=_("A template that ships with the engine: copy it to use it."),
    )
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    computed_at = models.DateTimeField(verbose_name=_("computed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    """A member's stay in a segment: from the day they entered to the day they left (null
    while they are in it). Leaving and entering again starts a new row."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    entered_on = models.DateField()
    left_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "member"],
                condition=Q(left_on__isnull=True),
                name="segment_membership_one_current",
            ),
            models.CheckConstraint(
                condition=Q(left_on__isnull=True) | Q(left_on__gte=models.F("entered_on")),
                name="segment_membership_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} in {self.segment_id}"
