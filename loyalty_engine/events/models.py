"""The outbox, webhook endpoints, deliveries and their attempts.

An Event row is written in the same transaction as the change it tells about
(`loyalty_engine.events.outbox`), so a committed change always has its event and a
rolled-back one never has. The dispatcher (services.events_dispatch) fans new events out
to one Delivery per subscribed endpoint; the delivery task posts them, recording every
Attempt.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    # The feed's cursor: events are read in `seq` order.
    seq = models.BigAutoField(verbose_name=_("seq"), primary_key=True)
    # The public id, stable across redeliveries (Standard Webhooks' webhook-id).
    uid = models.UUIDField(verbose_name=_("uid"), default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(verbose_name=_("type"), max_length=40)
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    # Rendered as member.external_id at read time, so an erasure reaches old events too.
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    data = models.JSONField(verbose_name=_("data"), default=dict)
    # Events that must happen once (points.expiring per member and expiry date).
    dedupe_key = models.CharField(
        verbose_name=_("dedupe key"), max_length=100, null=True, blank=True, unique=True
    )
    # Set once the dispatcher made its deliveries and messages.
    dispatched_at = models.DateTimeField(verbose_name=_("dispatched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(
                fields=["seq"], name="event_undispatched", condition=Q(dispatched_at__isnull=True)
            ),
            models.Index(fields=["type", "seq"], name="event_type_seq"),
            models.Index(fields=["created_at"], name="event_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"

    @property
    def public_id(self) -> str:
        return f"evt_{self.uid.hex}"


class WebhookEndpoint(models.Model):
    url = models.URLField(verbose_name=_("url"), max_length=500)
    description = models.CharField(verbose_name=_("description"), max_length=200, blank=True)
    # Empty: every type.
    event_types = models.JSONField(verbose_name=_("event types"), default=list, blank=True)
    is_active = models.BooleanField(
        verbose_name=_("is active"),
        default=True,
        help_text=_("Paused endpoints keep their deliveries until resumed."),
    )
    secret = models.CharField(verbose_name=_("secret"), max_length=100, editable=False)
    paused_reason = models.TextField(verbose_name=_("paused reason"), blank=True)
    failing_since = models.DateTimeField(verbose_name=_("failing since"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name_plural = _("webhook endpoints")
        verbose_name = _("webhook endpoint")

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(
        Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="deliveries"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("endpoint"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=10, choices=Status, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    # When it is due; while a worker posts it, a lease: a killed worker's delivery comes
    # due again after it.
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"))
    last_attempt_at = models.DateTimeField(verbose_name=_("last attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(verbose_name=_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class Attempt(models.Model):
    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField(verbose_name=_("attempted at"))
    status_code = models.PositiveSmallIntegerField(
        verbose_name=_("status code"), null=True, blank=True
    )
    latency_ms = models.PositiveIntegerField(verbose_name=_("latency ms"))
    response_start = models.CharField(verbose_name=_("response start"), max_length=500, blank=True)
    error = models.CharField(verbose_name=_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
