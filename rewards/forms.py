"""Admin forms for the program's configuration: they refuse contradictory settings.

The database constraints hold the few invariants a row can check on its own (a window's end
after its start, a multiplier of at least 1). These forms add what needs other rows or the
program's settings, and say in plain words which field is wrong and why.

Earn rules: a field that the rule's kind ignores is refused, not silently cleared, so staff
see that what they typed would have had no effect and decide themselves what to do with it.
"""

import zoneinfo
from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext, gettext_lazy, ngettext

from rewards.currency import decimal_places, is_known_currency, minor_units
from rewards.models import EarnRule, Milestone, Program, Reward, Tier, TierBasis
from rewards.selectors import program_get

Kind = EarnRule.Kind

WINDOW_HELP = {
    "starts_at": gettext_lazy("Empty: from the start. The start itself is inside the window."),
    "ends_at": gettext_lazy(
        "Empty: open-ended. The end itself is outside the window; it must be after the start."
    ),
}


def plain(value: Decimal) -> str:
    """500.00 → "500", 2.50 → "2.5"."""
    return f"{value.normalize():f}"


def window_check(form: forms.ModelForm) -> None:
    starts_at = form.cleaned_data.get("starts_at")
    ends_at = form.cleaned_data.get("ends_at")
    if starts_at and ends_at and ends_at <= starts_at:
        form.add_error("ends_at", gettext("The end must be after the start."))


def threshold_problem(threshold: Decimal, *, basis: str, currency: str) -> str | None:
    """Why a tier threshold doesn't fit how tiers qualify, or None."""
    if basis == TierBasis.POINTS and threshold != threshold.to_integral_value():
        return gettext(
            "Threshold %(threshold)s must be a whole number of points: tiers qualify on "
            "points earned (see the program settings)."
        ) % {"threshold": plain(threshold)}
    places = places_exceeded(threshold, currency=currency) if basis == TierBasis.SPEND else None
    if places is not None:
        return gettext(
            "Threshold %(threshold)s has more decimal places than the program currency "
            "%(currency)s has (%(places)s)."
        ) % {"threshold": plain(threshold), "currency": currency, "places": places}
    return None


def places_exceeded(amount: Decimal, *, currency: str) -> int | None:
    """The decimal places the program currency has, when an amount of money has more and so
    can't be spent in it (JPY has no cents); otherwise None."""
    if not is_known_currency(currency):
        return None
    places = minor_units(currency)
    return places if decimal_places(amount) > places else None


def translated(field: str) -> tuple[str, ...]:
    """A staff-entered text and its translations (django-modeltranslation columns): the
    field itself is the default language's; members read the one in their language, and a
    missing one falls back to the program's default language."""
    return (field, *(f"{field}_{code}" for code, _ in settings.LANGUAGES if code != "en"))


class TranslationsOptional:
    """The translations of a name are optional (a missing one falls back to the program's
    default language) and an empty one is stored as NULL, so unique names don't clash."""

    translation_suffixes = tuple(f"_{code}" for code, _ in settings.LANGUAGES if code != "en")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name.endswith(self.translation_suffixes):
                field.required = False
                field.empty_value = None

    def clean(self):
        cleaned = super().clean()
        for name in self.fields:
            if name.endswith(self.translation_suffixes) and cleaned.get(name) == "":
                cleaned[name] = None
        return cleaned


class ProgramForm(TranslationsOptional, forms.ModelForm):
    # Empty keeps the default, 30 days.
    expiring_notice_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        help_text=gettext_lazy(
            "The points.expiring event and email go out this many days before points "
            "expire, once per member and expiry date (empty: 30)."
        ),
    )
    spend_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=gettext_lazy("Where members spend their points: linked from the emails."),
    )

    def clean_expiring_notice_days(self):
        return self.cleaned_data.get("expiring_notice_days") or 30

    class Meta:
        model = Program
        fields = (
            *translated("name"),
            "default_language",
            "currency",
            "timezone",
            "points_per_unit",
            "pending_days",
            "expiry_months",
            "expiry_at_month_end",
            "point_value",
            "hold_ttl_minutes",
            "tier_basis",
            "tier_window_months",
            "tier_grace_days",
            "activity_window_days",
            "excluded_skus",
            "excluded_categories",
            "points_paid_earns",
            "expiry_policy",
            "expiry_period_months",
            "expiry_after_period_months",
            "expiry_inactivity_months",
            "expiry_inactivity_counts_redemptions",
            "max_points_share",
            "min_points_per_redemption",
            "redemption_step_points",
            "referral_share_url",
            "referral_referrer_points",
            "referral_referred_points",
            "referral_cap_per_year",
            "message_welcome",
            "message_tier_changed",
            "message_voucher_issued",
            "message_points_expiring",
            "expiring_notice_days",
            "spend_url",
        )
        help_texts = {
            "name": gettext_lazy("Shown to members as the program's name."),
            "currency": gettext_lazy(
                "ISO 4217 code, for example EUR. Purchases in another currency are refused."
            ),
            "timezone": gettext_lazy(
                "An IANA time zone, for example Europe/Berlin. Month ends, birthdays "
                "and nightly jobs follow it."
            ),
        }
        error_messages = {
            "tier_window_months": {
                "min_value": gettext_lazy("The tier window must be at least 1 month."),
            },
            "activity_window_days": {
                "min_value": gettext_lazy("The activity window must be at least 1 day."),
            },
            "points_per_unit": {
                "min_value": gettext_lazy("Points per currency unit must be more than 0."),
            },
        }

    # Added with issue 17: a form that leaves one out (a script posting the settings it
    # knew before) keeps the saved value rather than failing.
    KEEP_IF_MISSING = (
        "expiry_policy",
        "expiry_period_months",
        "expiry_after_period_months",
        "expiry_inactivity_months",
    )
    # Bonuses a program may leave out: empty means none (0).
    OPTIONAL_POINTS = ("referral_referrer_points", "referral_referred_points")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.KEEP_IF_MISSING + self.OPTIONAL_POINTS:
            self.fields[name].required = False
        # Left out of a form posted without it (older clients): the language stays.
        self.fields["default_language"].required = False

    def clean_default_language(self) -> str:
        return self.cleaned_data.get("default_language") or self.instance.default_language

    def _clean_kept(self, name: str):
        value = self.cleaned_data.get(name)
        return getattr(self.instance, name) if value in (None, "") else value

    def clean_expiry_policy(self):
        return self._clean_kept("expiry_policy")

    def clean_expiry_period_months(self):
        return self._clean_kept("expiry_period_months")

    def clean_expiry_after_period_months(self):
        return self._clean_kept("expiry_after_period_months")

    def clean_expiry_inactivity_months(self):
        return self._clean_kept("expiry_inactivity_months")

    def clean_referral_referrer_points(self) -> int:
        return self.cleaned_data.get("referral_referrer_points") or 0

    def clean_referral_referred_points(self) -> int:
        return self.cleaned_data.get("referral_referred_points") or 0

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().upper()
        if not is_known_currency(currency):
            raise forms.ValidationError(
                gettext("Currency %(currency)s is not an ISO 4217 code such as EUR, USD or JPY.")
                % {"currency": repr(currency)}
            )
        return currency

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"].strip()
        if name not in zoneinfo.available_timezones():
            raise forms.ValidationError(
                gettext("Time zone %(name)s is not an IANA time zone such as Europe/Berlin or UTC.")
                % {"name": repr(name)}
            )
        return name

    def clean(self):
        cleaned = super().clean()
        basis = cleaned.get("tier_basis")
        currency = cleaned.get("currency")
        changed = {"tier_basis", "currency"} & set(self.changed_data)
        if basis and currency and changed:
            # Changing the basis or the currency must not strand the existing thresholds.
            for tier in Tier.objects.order_by("rank"):
                problem = threshold_problem(tier.threshold, basis=basis, currency=currency)
                if problem:
                    self.add_error(
                        "tier_basis" if "tier_basis" in self.changed_data else "currency",
                        gettext("Tier %(tier)s: %(problem)s Change the tier first.")
                        % {"tier": tier.name, "problem": problem},
                    )
                    break
        return cleaned


class TierForm(TranslationsOptional, forms.ModelForm):
    """Thresholds rise strictly with rank, so the tiers a qualifying value reaches are
    always the lowest ranks, and the highest of them is its tier."""

    class Meta:
        model = Tier
        fields = (
            "rank",
            *translated("name"),
            "threshold",
            "earn_multiplier",
            *translated("benefits"),
        )
        help_texts = {"name": gettext_lazy("Shown to members, for example Gold.")}
        error_messages = {
            "earn_multiplier": {
                "min_value": gettext_lazy(
                    "The earn multiplier must be at least 1 (1 adds no points)."
                ),
            },
            "threshold": {"min_value": gettext_lazy("The threshold cannot be negative.")},
        }

    def clean(self):
        cleaned = super().clean()
        rank = cleaned.get("rank")
        threshold = cleaned.get("threshold")
        if threshold is None:
            return cleaned
        program = program_get()
        problem = threshold_problem(threshold, basis=program.tier_basis, currency=program.currency)
        if problem:
            self.add_error("threshold", problem)
            return cleaned
        others = Tier.objects.exclude(pk=self.instance.pk).order_by("rank")
        if threshold == 0:
            entry_tier = others.filter(threshold=0).first()
            if entry_tier:
                self.add_error(
                    "threshold",
                    gettext(
                        "Only one tier can have threshold 0 (the tier every member starts in), "
                        "and %(tier)s already has it."
                    )
                    % {"tier": entry_tier.name},
                )
                return cleaned
        if rank is None:
            return cleaned
        # Name the nearest collision: the highest threshold below, the lowest above.
        below = others.filter(rank__lt=rank).order_by("-threshold", "-rank").first()
        above = others.filter(rank__gt=rank).order_by("threshold", "rank").first()
        if below and below.threshold >= threshold:
            self.add_error(
                "threshold",
                gettext(
                    "Threshold must be above %(threshold)s, the threshold of %(tier)s, which "
                    "has a lower rank (%(rank)s)."
                )
                % {"threshold": plain(below.threshold), "tier": below.name, "rank": below.rank},
            )
        elif above and above.threshold <= threshold:
            self.add_error(
                "threshold",
                gettext(
                    "Threshold must be below %(threshold)s, the threshold of %(tier)s, which "
                    "has a higher rank (%(rank)s)."
                )
                % {"threshold": plain(above.threshold), "tier": above.name, "rank": above.rank},
            )
        return cleaned


# Which kinds use which fields. Everything else a kind ignores, and the form refuses it.
MULTIPLIER_KINDS = EarnRule.MULTIPLIER_KINDS
BONUS_KINDS = {
    Kind.MIN_SPEND_BONUS,
    Kind.FIRST_PURCHASE_BONUS,
    Kind.SIGNUP_BONUS,
    Kind.BIRTHDAY_BONUS,
}
TARGET_KINDS = {Kind.CATEGORY_MULTIPLIER, Kind.SKU_MULTIPLIER}
# A sign-up or first-purchase bonus is given once, a birthday bonus once a year: its bonus
# points already are its limit, and the engine checks caps only on purchase rules.
CAPPED_KINDS = MULTIPLIER_KINDS | {Kind.MIN_SPEND_BONUS}
CAP_FIELDS = ("cap_per_day", "cap_per_month", "cap_total")
# What each kind lacks or ignores, in whole sentences, so a translator sees each one whole.
NEEDS_MULTIPLIER = {
    Kind.CATEGORY_MULTIPLIER: gettext_lazy(
        "A category multiplier needs a multiplier (at least 1)."
    ),
    Kind.SKU_MULTIPLIER: gettext_lazy("An SKU multiplier needs a multiplier (at least 1)."),
    Kind.CAMPAIGN_MULTIPLIER: gettext_lazy(
        "A campaign multiplier needs a multiplier (at least 1)."
    ),
}
NEEDS_TARGETS = {
    Kind.CATEGORY_MULTIPLIER: gettext_lazy(
        "A category multiplier needs targets: the categories it applies to."
    ),
    Kind.SKU_MULTIPLIER: gettext_lazy("An SKU multiplier needs targets: the SKUs it applies to."),
}
NEEDS_BONUS_POINTS = {
    Kind.MIN_SPEND_BONUS: gettext_lazy("A minimum-spend bonus needs bonus points above 0."),
    Kind.FIRST_PURCHASE_BONUS: gettext_lazy("A first-purchase bonus needs bonus points above 0."),
    Kind.SIGNUP_BONUS: gettext_lazy("A sign-up bonus needs bonus points above 0."),
    Kind.BIRTHDAY_BONUS: gettext_lazy("A birthday bonus needs bonus points above 0."),
}
CAMPAIGN_NEEDS = {
    "starts_at": gettext_lazy(
        "A campaign runs over a date window, so it needs a start. For a permanent change, "
        "change the program's points per currency unit."
    ),
    "ends_at": gettext_lazy(
        "A campaign runs over a date window, so it needs an end. For a permanent change, "
        "change the program's points per currency unit."
    ),
}
IGNORES = {
    "multiplier": {
        Kind.MIN_SPEND_BONUS: gettext_lazy(
            "A minimum-spend bonus ignores a multiplier, so it would have no effect. "
            "Leave it empty."
        ),
        Kind.FIRST_PURCHASE_BONUS: gettext_lazy(
            "A first-purchase bonus ignores a multiplier, so it would have no effect. "
            "Leave it empty."
        ),
        Kind.SIGNUP_BONUS: gettext_lazy(
            "A sign-up bonus ignores a multiplier, so it would have no effect. Leave it empty."
        ),
        Kind.BIRTHDAY_BONUS: gettext_lazy(
            "A birthday bonus ignores a multiplier, so it would have no effect. Leave it empty."
        ),
    },
    "bonus_points": {
        Kind.CATEGORY_MULTIPLIER: gettext_lazy(
            "A category multiplier ignores bonus points, so it would have no effect. "
            "Leave it empty."
        ),
        Kind.SKU_MULTIPLIER: gettext_lazy(
            "An SKU multiplier ignores bonus points, so it would have no effect. Leave it empty."
        ),
        Kind.CAMPAIGN_MULTIPLIER: gettext_lazy(
            "A campaign multiplier ignores bonus points, so it would have no effect. "
            "Leave it empty."
        ),
    },
    "min_amount": {
        Kind.CATEGORY_MULTIPLIER: gettext_lazy(
            "A category multiplier ignores a minimum amount, so it would have no effect. "
            "Leave it empty."
        ),
        Kind.SKU_MULTIPLIER: gettext_lazy(
            "An SKU multiplier ignores a minimum amount, so it would have no effect. "
            "Leave it empty."
        ),
        Kind.CAMPAIGN_MULTIPLIER: gettext_lazy(
            "A campaign multiplier ignores a minimum amount, so it would have no effect. "
            "Leave it empty."
        ),
        Kind.FIRST_PURCHASE_BONUS: gettext_lazy(
            "A first-purchase bonus ignores a minimum amount, so it would have no effect. "
            "Leave it empty."
        ),
        Kind.SIGNUP_BONUS: gettext_lazy(
            "A sign-up bonus ignores a minimum amount, so it would have no effect. Leave it empty."
        ),
        Kind.BIRTHDAY_BONUS: gettext_lazy(
            "A birthday bonus ignores a minimum amount, so it would have no effect. Leave it empty."
        ),
    },
    "targets": {
        Kind.CAMPAIGN_MULTIPLIER: gettext_lazy(
            "A campaign multiplier ignores targets, so it would have no effect. Leave it empty."
        ),
        Kind.MIN_SPEND_BONUS: gettext_lazy(
            "A minimum-spend bonus ignores targets, so it would have no effect. Leave it empty."
        ),
        Kind.FIRST_PURCHASE_BONUS: gettext_lazy(
            "A first-purchase bonus ignores targets, so it would have no effect. Leave it empty."
        ),
        Kind.SIGNUP_BONUS: gettext_lazy(
            "A sign-up bonus ignores targets, so it would have no effect. Leave it empty."
        ),
        Kind.BIRTHDAY_BONUS: gettext_lazy(
            "A birthday bonus ignores targets, so it would have no effect. Leave it empty."
        ),
    },
}
TAKES_NO_CAPS = {
    Kind.FIRST_PURCHASE_BONUS: gettext_lazy(
        "A first-purchase bonus is given once: its bonus points already are its limit, so it "
        "takes no caps. Leave the caps empty."
    ),
    Kind.SIGNUP_BONUS: gettext_lazy(
        "A sign-up bonus is given once: its bonus points already are its limit, so it takes "
        "no caps. Leave the caps empty."
    ),
    Kind.BIRTHDAY_BONUS: gettext_lazy(
        "A birthday bonus is given once a year: its bonus points already are its limit, so it "
        "takes no caps. Leave the caps empty."
    ),
}
# A cap above the cap of a longer period, by (cap, longer cap).
CAP_UNREACHABLE = {
    ("cap_per_day", "cap_per_month"): gettext_lazy(
        "The daily cap (%(cap)s) is above the monthly cap (%(longer)s), so it could never be "
        "reached."
    ),
    ("cap_per_day", "cap_total"): gettext_lazy(
        "The daily cap (%(cap)s) is above the total cap (%(longer)s), so it could never be reached."
    ),
    ("cap_per_month", "cap_total"): gettext_lazy(
        "The monthly cap (%(cap)s) is above the total cap (%(longer)s), so it could never be "
        "reached."
    ),
}


class EarnRuleForm(TranslationsOptional, forms.ModelForm):
    class Meta:
        model = EarnRule
        fields = (
            *translated("name"),
            "description",
            "kind",
            "is_active",
            "priority",
            "multiplier",
            "bonus_points",
            "min_amount",
            "targets",
            "starts_at",
            "ends_at",
            "shops",
            "tiers",
            "segments",
            "cap_per_day",
            "cap_per_month",
            "cap_total",
            "excluded_skus",
            "excluded_categories",
            "budget_points",
        )
        help_texts = {
            **WINDOW_HELP,
            "name": gettext_lazy("For staff, and shown to members as the rule's title."),
            "kind": gettext_lazy(
                "What the rule does. Multipliers need a multiplier; category and SKU "
                "multipliers also targets; bonuses need bonus points; a minimum-spend bonus also "
                "a minimum amount. A campaign needs a start and an end. Fields a kind ignores "
                "must be left empty."
            ),
            "is_active": gettext_lazy("Untick to stop the rule without deleting it."),
            "multiplier": gettext_lazy(
                "Multiplier kinds only: 2 doubles the base points of what matches. At least 1."
            ),
            "bonus_points": gettext_lazy("Bonus kinds only: the points awarded."),
            "min_amount": gettext_lazy(
                "Minimum-spend bonus only: purchases of at least this amount qualify."
            ),
            "targets": gettext_lazy(
                "Category or SKU multiplier only: the categories or SKUs, "
                "comma-separated, matched without regard to case."
            ),
            "shops": gettext_lazy(
                "Empty: every shop. A birthday bonus is given by the nightly job, not "
                "at a shop, so it takes no shops."
            ),
            "cap_per_day": gettext_lazy(
                "Multiplier and minimum-spend rules only: most points this rule "
                "gives a member in a day (program time zone). Empty: no cap."
            ),
            "cap_per_month": gettext_lazy(
                "Multiplier and minimum-spend rules only: most points this rule "
                "gives a member in a calendar month. Empty: no cap."
            ),
            "cap_total": gettext_lazy(
                "Multiplier and minimum-spend rules only: most points this rule "
                "gives a member, ever. Empty: no cap."
            ),
        }
        error_messages = {
            "multiplier": {"min_value": gettext_lazy("The multiplier must be at least 1.")},
            "min_amount": {"min_value": gettext_lazy("The minimum amount cannot be negative.")},
        }

    def clean(self):
        cleaned = super().clean()
        window_check(self)
        kind = cleaned.get("kind")
        if kind:
            self._check_required(kind)
            self._check_ignored(kind)
            self._check_caps(kind)
            self._check_purchase_only(kind)
        return cleaned

    def _check_purchase_only(self, kind: str) -> None:
        """Exclusions and budgets are applied where purchases earn; a sign-up or birthday
        bonus is given elsewhere, so it takes neither."""
        cleaned = self.cleaned_data
        if kind not in EarnRule.PURCHASE_KINDS:
            for field in ("excluded_skus", "excluded_categories"):
                if (cleaned.get(field) or "").strip():
                    self.add_error(
                        field,
                        gettext("Only rules that earn on purchases can exclude lines."),
                    )
            if cleaned.get("budget_points") is not None:
                self.add_error(
                    "budget_points",
                    gettext("Only rules that earn on purchases can have a budget."),
                )
        budget = cleaned.get("budget_points")
        used = self.instance.budget_used if self.instance.pk else 0
        if budget is not None and budget < used:
            self.add_error(
                "budget_points",
                ngettext(
                    "The rule has already given %(used)s point: the budget cannot be less.",
                    "The rule has already given %(used)s points: the budget cannot be less.",
                    used,
                )
                % {"used": used},
            )

    def _missing(self, field: str) -> bool:
        """Empty, and not already refused for another reason."""
        return self.cleaned_data.get(field) in (None, "") and field not in self.errors

    def _check_required(self, kind: str) -> None:
        cleaned = self.cleaned_data
        if kind in MULTIPLIER_KINDS and self._missing("multiplier"):
            self.add_error("multiplier", str(NEEDS_MULTIPLIER[kind]))
        if kind in TARGET_KINDS and not self._targets():
            self.add_error("targets", str(NEEDS_TARGETS[kind]))
        if (
            kind in BONUS_KINDS
            and not cleaned.get("bonus_points")
            and ("bonus_points" not in self.errors)
        ):
            self.add_error("bonus_points", str(NEEDS_BONUS_POINTS[kind]))
        if kind == Kind.MIN_SPEND_BONUS and self._missing("min_amount"):
            self.add_error("min_amount", gettext("A minimum-spend bonus needs a minimum amount."))
        if kind == Kind.CAMPAIGN_MULTIPLIER:
            for field, message in CAMPAIGN_NEEDS.items():
                if self._missing(field):
                    self.add_error(field, str(message))

    def _targets(self) -> list[str]:
        return [t.strip() for t in (self.cleaned_data.get("targets") or "").split(",") if t.strip()]

    def _check_ignored(self, kind: str) -> None:
        cleaned = self.cleaned_data
        is_set = {
            "multiplier": kind not in MULTIPLIER_KINDS and cleaned.get("multiplier") is not None,
            "bonus_points": kind not in BONUS_KINDS and cleaned.get("bonus_points") is not None,
            "min_amount": kind != Kind.MIN_SPEND_BONUS and cleaned.get("min_amount") is not None,
            "targets": kind not in TARGET_KINDS and bool((cleaned.get("targets") or "").strip()),
        }
        for field, ignored in is_set.items():
            if ignored:
                self.add_error(field, str(IGNORES[field][kind]))
        if kind == Kind.BIRTHDAY_BONUS and cleaned.get("shops"):
            self.add_error(
                "shops",
                gettext(
                    "A birthday bonus is given by the nightly job, not at a shop, so with shops "
                    "it would never be given. Leave shops empty."
                ),
            )

    def _check_caps(self, kind: str) -> None:
        caps = {field: self.cleaned_data.get(field) for field in CAP_FIELDS}
        if kind not in CAPPED_KINDS:
            for field, cap in caps.items():
                if cap is not None:
                    self.add_error(field, str(TAKES_NO_CAPS[kind]))
            return
        for field, cap in caps.items():
            if cap == 0:
                self.add_error(
                    field,
                    gettext(
                        "A cap of 0 would stop the rule from giving any points. Leave it empty "
                        "for no cap, or untick active to stop the rule."
                    ),
                )
        # A cap above the cap of a longer period could never be reached.
        for index, field in enumerate(CAP_FIELDS):
            for longer in CAP_FIELDS[index + 1 :]:
                if caps[field] and caps[longer] and caps[field] > caps[longer]:
                    self.add_error(
                        field,
                        CAP_UNREACHABLE[field, longer]
                        % {"cap": caps[field], "longer": caps[longer]},
                    )
                    break


class MilestoneForm(TranslationsOptional, forms.ModelForm):
    class Meta:
        model = Milestone
        fields = (
            *translated("name"),
            *translated("description"),
            "kind",
            "target",
            "period",
            "bonus_points",
            "reward",
            "segments",
            "is_active",
            "starts_at",
            "ends_at",
        )
        help_texts = {
            **WINDOW_HELP,
            "name": gettext_lazy("Shown to members, for example 10th purchase."),
            "description": gettext_lazy("Shown to members under the name."),
            "kind": gettext_lazy(
                "What counts toward the target: purchases, lifetime points earned, or "
                "money spent (net of refunds)."
            ),
            "target": gettext_lazy(
                "Purchases and lifetime points: a whole number. Spend: an amount in the "
                "program currency."
            ),
            "period": gettext_lazy(
                "Purchases and spend count within the period, and the milestone can be "
                "reached again in the next one. Lifetime points: once only."
            ),
            "bonus_points": gettext_lazy(
                "Points awarded when the milestone is reached. Set bonus points, a reward, or both."
            ),
            "is_active": gettext_lazy("Untick to stop awarding the milestone without deleting it."),
        }
        error_messages = {"target": {"min_value": gettext_lazy("The target must be more than 0.")}}

    def clean(self):
        cleaned = super().clean()
        window_check(self)
        kind = cleaned.get("kind")
        target = cleaned.get("target")
        if kind in (Milestone.Kind.PURCHASE_COUNT, Milestone.Kind.LIFETIME_POINTS) and (
            target is not None and target != target.to_integral_value()
        ):
            if kind == Milestone.Kind.PURCHASE_COUNT:
                message = gettext("The target must be a whole number of purchases.")
            else:
                message = gettext("The target must be a whole number of points.")
            self.add_error("target", message)
        if kind == Milestone.Kind.SPEND and target is not None:
            currency = program_get().currency
            places = places_exceeded(target, currency=currency)
            if places is not None:
                self.add_error(
                    "target",
                    gettext(
                        "The target %(target)s has more decimal places than the program "
                        "currency %(currency)s has (%(places)s)."
                    )
                    % {"target": plain(target), "currency": currency, "places": places},
                )
        period = cleaned.get("period")
        if kind == Milestone.Kind.LIFETIME_POINTS and period and period != Milestone.Period.EVER:
            self.add_error(
                "period",
                gettext(
                    "Lifetime points only grow, so a lifetime-points milestone is reached "
                    'once: its period must be "Once".'
                ),
            )
        if not cleaned.get("bonus_points") and not cleaned.get("reward"):
            if "bonus_points" not in self.errors and "reward" not in self.errors:
                self.add_error(
                    "bonus_points",
                    gettext(
                        "Set bonus points (above 0), a reward, or both: otherwise the milestone "
                        "gives nothing."
                    ),
                )
        return cleaned


class RewardForm(TranslationsOptional, forms.ModelForm):
    # Declared to choose the scheme a URL without one gets (Django 6 changes the default).
    image_url = forms.URLField(
        required=False,
        max_length=Reward._meta.get_field("image_url").max_length,
        assume_scheme="https",
        label=gettext_lazy("Image URL"),
        help_text=gettext_lazy(
            "An image shown to members in the catalog. Without a scheme, https:// is assumed."
        ),
    )

    class Meta:
        model = Reward
        fields = (
            *translated("name"),
            *translated("description"),
            "image_url",
            "points_cost",
            "is_active",
            "stock",
            "per_member_limit",
            "tiers",
            "segments",
            "voucher_valid_days",
            "starts_at",
            "ends_at",
        )
        help_texts = {
            **WINDOW_HELP,
            "name": gettext_lazy("Shown to members in the catalog."),
            "description": gettext_lazy("Shown to members in the catalog."),
            "points_cost": gettext_lazy("Points a member pays for one voucher. At least 1."),
            "is_active": gettext_lazy("Untick to take the reward out of the catalog."),
        }
        error_messages = {
            "points_cost": {"min_value": gettext_lazy("The points cost must be at least 1.")},
            "stock": {"min_value": gettext_lazy("Stock cannot be negative.")},
            "per_member_limit": {
                "min_value": gettext_lazy("The per-member limit must be at least 1.")
            },
            "voucher_valid_days": {
                "min_value": gettext_lazy("Voucher validity must be at least 1 day.")
            },
        }

    def clean(self):
        cleaned = super().clean()
        window_check(self)
        return cleaned
