"""Messages to members: one row per email built from an event (rewards.services.messages)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from members.models import Member


class MemberMessage(models.Model):
    class Kind(models.TextChoices):
        WELCOME = "welcome", _("Welcome")
        TIER_CHANGED = "tier_changed", _("Tier changed")
        VOUCHER_ISSUED = "voucher_issued", _("Voucher issued")
        POINTS_EXPIRING = "points_expiring", _("Points expiring soon")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=20, choices=Kind)
    # The event it was built from (events may be pruned; the id stays).
    event_uid = models.UUIDField()
    data = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    detail = models.CharField(max_length=500, blank=True)
    to_email = models.EmailField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    # While pending: when it may be (re)tried; a worker that died sending lets it come due.
    next_try_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # Failed sends so far; after the last retry the message is failed.
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            # Once per event and kind: the same points.expiring (once per member and expiry
            # date) never gives two emails.
            models.UniqueConstraint(fields=["event_uid", "kind"], name="message_once_per_event"),
        ]
        indexes = [
            models.Index(
                fields=["next_try_at"], name="message_due", condition=models.Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.member_id}"
