"""Merges of a member who enrolled twice: what moved, who did it and why."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from members.models import Member


class MemberMerge(models.Model):
    """One merge of `source` into `target`, written with the ledger entries that moved the
    points (merge_out on the source, merge_in on the target). Never undone: a member merged
    stays merged."""

    source = models.OneToOneField(
        Member,
        verbose_name=pgettext_lazy("member merge", "source"),
        on_delete=models.PROTECT,
        related_name="merge",
    )
    target = models.ForeignKey(
        Member,
        verbose_name=pgettext_lazy("member merge", "target"),
        on_delete=models.PROTECT,
        related_name="merges_in",
    )
    reason = models.CharField(verbose_name=_("reason"), max_length=500)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff user"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
    )
    merged_at = models.DateTimeField(verbose_name=_("merged at"))
    lifetime_moved = models.BigIntegerField(
        verbose_name=_("lifetime moved"),
        default=0,
        help_text=_(
            "The source's lifetime earned points, now counted in the target's "
            "(verify_ledger adds them to what the target's entries earned)."
        ),
    )
    moved = models.JSONField(
        verbose_name=_("moved"),
        default=dict,
        help_text=_("What moved: lots, points, pending, holds, owed, vouchers."),
    )

    class Meta:
        verbose_name = _("member merge")
        verbose_name_plural = _("member merges")
        constraints = [
            models.CheckConstraint(condition=~Q(source=F("target")), name="merge_not_into_self"),
        ]

    def __str__(self) -> str:
        return f"merge of {self.source_id} into {self.target_id}"
