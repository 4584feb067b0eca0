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
from django.utils.translation import gettext, gettext_lazy

from rewards.currency import decimal_places, is_known_currency, minor_units
from rewards.models import EarnRule, Milestone, Program, Reward, Tier, TierBasis
from rewards.selectors import program_get

Kind = EarnRule.Kind

WINDOW_HELP = {
    "starts_at": "Empty: from the start. The start itself is inside the window.",
    "ends_at": "Empty: open-ended. The end itself is outside the window; it must be after "
    "the start.",
}


def plain(value: Decimal) -> str:
    """500.00 → "500", 2.50 → "2.5"."""
    return f"{value.normalize():f}"


def window_check(form: forms.ModelForm) -> None:
    starts_at = form.cleaned_data.get("starts_at")
    ends_at = form.cleaned_data.get("ends_at")
    if starts_at and ends_at and ends_at <= starts_at:
        form.add_error("ends_at", "The end must be after the start.")


def threshold_problem(threshold: Decimal, *, basis: str, currency: str) -> str | None:
    """Why a tier threshold doesn't fit how tiers qualify, or None."""
    if basis == TierBasis.POINTS and threshold != threshold.to_integral_value():
        return (
            f"Threshold {plain(threshold)} must be a whole number of points: tiers qualify "
            "on points earned (see the program settings)."
        )
    if basis == TierBasis.SPEND:
        return amount_problem(threshold, what="Threshold", currency=currency)
    return None


def amount_problem(amount: Decimal, *, what: str, currency: str) -> str | None:
    """Why an amount of money can't be spent in the program currency (JPY has no cents)."""
    if not is_known_currency(currency):
        return None
    places = minor_units(currency)
    if decimal_places(amount) > places:
        return (
            f"{what} {plain(amount)} has more decimal places than the program currency "
            f"{currency} has ({places})."
        )
    return None


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
            "name": "Shown to members as the program's name.",
            "currency": "ISO 4217 code, for example EUR. Purchases in another currency are "
            "refused.",
            "timezone": "An IANA time zone, for example Europe/Berlin. Month ends, birthdays "
            "and nightly jobs follow it.",
        }
        error_messages = {
            "tier_window_months": {
                "min_value": "The tier window must be at least 1 month.",
            },
            "activity_window_days": {
                "min_value": "The activity window must be at least 1 day.",
            },
            "points_per_unit": {
                "min_value": "Points per currency unit must be more than 0.",
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
                f"Currency {currency!r} is not an ISO 4217 code such as EUR, USD or JPY."
            )
        return currency

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"].strip()
        if name not in zoneinfo.available_timezones():
            raise forms.ValidationError(
                f"Time zone {name!r} is not an IANA time zone such as Europe/Berlin or UTC."
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
                        f"Tier {tier.name}: {problem} Change the tier first.",
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
        help_texts = {"name": "Shown to members, for example Gold."}
        error_messages = {
            "earn_multiplier": {
                "min_value": "The earn multiplier must be at least 1 (1 adds no points).",
            },
            "threshold": {"min_value": "The threshold cannot be negative."},
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
                    f"Only one tier can have threshold 0 (the tier every member starts in), "
                    f"and {entry_tier.name} already has it.",
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
                f"Threshold must be above {plain(below.threshold)}, the threshold of "
                f"{below.name}, which has a lower rank ({below.rank}).",
            )
        elif above and above.threshold <= threshold:
            self.add_error(
                "threshold",
                f"Threshold must be below {plain(above.threshold)}, the threshold of "
                f"{above.name}, which has a higher rank ({above.rank}).",
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
# Caps from the shortest period to the longest.
CAP_NAMES = {"cap_per_day": "daily", "cap_per_month": "monthly", "cap_total": "total"}
KIND_PHRASES = {
    Kind.CATEGORY_MULTIPLIER: "a category multiplier",
    Kind.SKU_MULTIPLIER: "an SKU multiplier",
    Kind.CAMPAIGN_MULTIPLIER: "a campaign multiplier",
    Kind.MIN_SPEND_BONUS: "a minimum-spend bonus",
    Kind.FIRST_PURCHASE_BONUS: "a first-purchase bonus",
    Kind.SIGNUP_BONUS: "a sign-up bonus",
    Kind.BIRTHDAY_BONUS: "a birthday bonus",
}
FIELD_PHRASES = {
    "multiplier": "a multiplier",
    "bonus_points": "bonus points",
    "min_amount": "a minimum amount",
    "targets": "targets",
}


def kind_phrase(kind: str) -> str:
    """ "A sign-up bonus", to start a sentence."""
    phrase = KIND_PHRASES[Kind(kind)]
    return phrase[0].upper() + phrase[1:]


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
            "name": "For staff, and shown to members as the rule's title.",
            "kind": "What the rule does. Multipliers need a multiplier; category and SKU "
            "multipliers also targets; bonuses need bonus points; a minimum-spend bonus also "
            "a minimum amount. A campaign needs a start and an end. Fields a kind ignores "
            "must be left empty.",
            "is_active": "Untick to stop the rule without deleting it.",
            "multiplier": "Multiplier kinds only: 2 doubles the base points of what matches. "
            "At least 1.",
            "bonus_points": "Bonus kinds only: the points awarded.",
            "min_amount": "Minimum-spend bonus only: purchases of at least this amount qualify.",
            "targets": "Category or SKU multiplier only: the categories or SKUs, "
            "comma-separated, matched without regard to case.",
            "shops": "Empty: every shop. A birthday bonus is given by the nightly job, not "
            "at a shop, so it takes no shops.",
            "cap_per_day": "Multiplier and minimum-spend rules only: most points this rule "
            "gives a member in a day (program time zone). Empty: no cap.",
            "cap_per_month": "Multiplier and minimum-spend rules only: most points this rule "
            "gives a member in a calendar month. Empty: no cap.",
            "cap_total": "Multiplier and minimum-spend rules only: most points this rule "
            "gives a member, ever. Empty: no cap.",
        }
        error_messages = {
            "multiplier": {"min_value": "The multiplier must be at least 1."},
            "min_amount": {"min_value": "The minimum amount cannot be negative."},
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
                gettext("The rule has already given %(used)s points: the budget cannot be less.")
                % {"used": used},
            )

    def _missing(self, field: str) -> bool:
        """Empty, and not already refused for another reason."""
        return self.cleaned_data.get(field) in (None, "") and field not in self.errors

    def _check_required(self, kind: str) -> None:
        cleaned = self.cleaned_data
        rule = kind_phrase(kind)
        if kind in MULTIPLIER_KINDS and self._missing("multiplier"):
            self.add_error("multiplier", f"{rule} needs a multiplier (at least 1).")
        if kind in TARGET_KINDS and not self._targets():
            what = "categories" if kind == Kind.CATEGORY_MULTIPLIER else "SKUs"
            self.add_error("targets", f"{rule} needs targets: the {what} it applies to.")
        if (
            kind in BONUS_KINDS
            and not cleaned.get("bonus_points")
            and ("bonus_points" not in self.errors)
        ):
            self.add_error("bonus_points", f"{rule} needs bonus points above 0.")
        if kind == Kind.MIN_SPEND_BONUS and self._missing("min_amount"):
            self.add_error("min_amount", f"{rule} needs a minimum amount.")
        if kind == Kind.CAMPAIGN_MULTIPLIER:
            for field, what in (("starts_at", "a start"), ("ends_at", "an end")):
                if self._missing(field):
                    self.add_error(
                        field,
                        f"A campaign runs over a date window, so it needs {what}. For a "
                        "permanent change, change the program's points per currency unit.",
                    )

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
                self.add_error(
                    field,
                    f"{kind_phrase(kind)} ignores {FIELD_PHRASES[field]}, so it would have no "
                    "effect. Leave it empty.",
                )
        if kind == Kind.BIRTHDAY_BONUS and cleaned.get("shops"):
            self.add_error(
                "shops",
                "A birthday bonus is given by the nightly job, not at a shop, so with shops "
                "it would never be given. Leave shops empty.",
            )

    def _check_caps(self, kind: str) -> None:
        caps = {field: self.cleaned_data.get(field) for field in CAP_FIELDS}
        if kind not in CAPPED_KINDS:
            how_often = "once a year" if kind == Kind.BIRTHDAY_BONUS else "once"
            for field, cap in caps.items():
                if cap is not None:
                    self.add_error(
                        field,
                        f"{kind_phrase(kind)} is given {how_often}: its bonus points already "
                        "are its limit, so it takes no caps. Leave the caps empty.",
                    )
            return
        for field, cap in caps.items():
            if cap == 0:
                self.add_error(
                    field,
                    "A cap of 0 would stop the rule from giving any points. Leave it empty "
                    "for no cap, or untick active to stop the rule.",
                )
        # A cap above the cap of a longer period could never be reached.
        for index, field in enumerate(CAP_FIELDS):
            for longer in CAP_FIELDS[index + 1 :]:
                if caps[field] and caps[longer] and caps[field] > caps[longer]:
                    self.add_error(
                        field,
                        f"The {CAP_NAMES[field]} cap ({caps[field]}) is above the "
                        f"{CAP_NAMES[longer]} cap ({caps[longer]}), so it could never be "
                        "reached.",
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
            "name": "Shown to members, for example 10th purchase.",
            "description": "Shown to members under the name.",
            "kind": "What counts toward the target: purchases, lifetime points earned, or "
            "money spent (net of refunds).",
            "target": "Purchases and lifetime points: a whole number. Spend: an amount in the "
            "program currency.",
            "period": "Purchases and spend count within the period, and the milestone can be "
            "reached again in the next one. Lifetime points: once only.",
            "bonus_points": "Points awarded when the milestone is reached. Set bonus points, "
            "a reward, or both.",
            "is_active": "Untick to stop awarding the milestone without deleting it.",
        }
        error_messages = {"target": {"min_value": "The target must be more than 0."}}

    def clean(self):
        cleaned = super().clean()
        window_check(self)
        kind = cleaned.get("kind")
        target = cleaned.get("target")
        if kind in (Milestone.Kind.PURCHASE_COUNT, Milestone.Kind.LIFETIME_POINTS) and (
            target is not None and target != target.to_integral_value()
        ):
            what = "purchases" if kind == Milestone.Kind.PURCHASE_COUNT else "points"
            self.add_error("target", f"The target must be a whole number of {what}.")
        if kind == Milestone.Kind.SPEND and target is not None:
            currency = program_get().currency
            problem = amount_problem(target, what="The target", currency=currency)
            if problem:
                self.add_error("target", problem)
        period = cleaned.get("period")
        if kind == Milestone.Kind.LIFETIME_POINTS and period and period != Milestone.Period.EVER:
            self.add_error(
                "period",
                "Lifetime points only grow, so a lifetime-points milestone is reached once: "
                'its period must be "Once".',
            )
        if not cleaned.get("bonus_points") and not cleaned.get("reward"):
            if "bonus_points" not in self.errors and "reward" not in self.errors:
                self.add_error(
                    "bonus_points",
                    "Set bonus points (above 0), a reward, or both: otherwise the milestone "
                    "gives nothing.",
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
            "name": "Shown to members in the catalog.",
            "description": "Shown to members in the catalog.",
            "points_cost": "Points a member pays for one voucher. At least 1.",
            "is_active": "Untick to take the reward out of the catalog.",
        }
        error_messages = {
            "points_cost": {"min_value": "The points cost must be at least 1."},
            "stock": {"min_value": "Stock cannot be negative."},
            "per_member_limit": {"min_value": "The per-member limit must be at least 1."},
            "voucher_valid_days": {"min_value": "Voucher validity must be at least 1 day."},
        }

    def clean(self):
        cleaned = super().clean()
        window_check(self)
        return cleaned
