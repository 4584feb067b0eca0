"""What a ledger entry says to the member, in the reader's language.

An entry stores a message key and its parameters (`message_key`, `message_params`), never
a sentence: the sentence is rendered when the entry is read, in the active language
(loyalty_engine.i18n chooses it). Names staff entered (a reward, a rule, a milestone) are
stored with the entry in every language they had then, so a later rename does not rewrite
history, and a name missing in one language falls back to the program's default language.

Entries written before keys existed have an empty key and their English sentence in
`reason`. The ledger is append-only (database triggers), so they are not rewritten:
`entry_words` parses the sentence back into a key and parameters with the patterns that
wrote it (`LEGACY_PATTERNS`), and renders it like a new entry. A sentence no pattern
matches is shown as it was written.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils import translation
from django.utils.translation import get_language, gettext, ngettext

from loyalty_engine import i18n
from loyalty_engine.locale_format import date_format, money_format


@dataclass(frozen=True)
class Words:
    """A message key and its parameters, as stored on an entry."""

    key: str
    params: dict = field(default_factory=dict)

    def fields(self) -> dict:
        """The entry's columns that carry these words."""
        return {"message_key": self.key, "message_params": self.params}


def names(obj, attribute: str = "name") -> dict[str, str]:
    """A staff-entered name in every language it has (django-modeltranslation columns)."""
    found = {}
    for code in i18n.SUPPORTED:
        value = getattr(obj, f"{attribute}_{code}", None)
        if value:
            found[code] = value
    if not found:
        found[settings.LANGUAGE_CODE] = getattr(obj, attribute, "") or ""
    return found


def name_in_language(value) -> str:
    """One of the stored names: the reader's language, else the program's, else any."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or not value:
        return ""
    for code in (get_language(), i18n.program_language(), *i18n.SUPPORTED):
        if value.get(code):
            return value[code]
    return next(iter(value.values()))


# --- the words written with new entries ---------------------------------------------------


def earned(*, points: int, order_id: str, amount, currency: str) -> Words:
    return Words(
        "earned", {"points": points, "order": order_id, "amount": str(amount), "currency": currency}
    )


def refunded(*, points: int, amount, currency: str, order_id: str, owed: int) -> Words:
    return Words(
        "refunded",
        {
            "points": points,
            "amount": str(amount),
            "currency": currency,
            "order": order_id,
            "owed": owed,
        },
    )


def expired(*, points: int, first: date, last: date) -> Words:
    return Words(
        "expired", {"points": points, "first": first.isoformat(), "last": last.isoformat()}
    )


def settled(*, points: int) -> Words:
    return Words("settled", {"points": points})


def held(*, points: int, discount, currency: str) -> Words:
    return Words("held", {"points": points, "discount": str(discount), "currency": currency})


def redeemed(*, points: int, discount, currency: str) -> Words:
    return Words("redeemed", {"points": points, "discount": str(discount), "currency": currency})


def redeemed_reward(*, points: int, reward) -> Words:
    return Words("redeemed_reward", {"points": points, "reward": names(reward)})


def captured(*, points: int) -> Words:
    return Words("captured", {"points": points})


def hold_released(*, points: int, expired: bool) -> Words:
    return Words("hold_expired" if expired else "hold_voided", {"points": points})


def cancelled(*, points: int) -> Words:
    return Words("cancelled", {"points": points})


def voucher_cancelled(*, points: int, code: str, reward) -> Words:
    return Words("voucher_cancelled", {"points": points, "code": code, "reward": names(reward)})


def signup_bonus(*, points: int, rule) -> Words:
    return Words("signup_bonus", {"points": points, "rule": names(rule)})


def birthday_bonus(*, points: int, rule) -> Words:
    return Words("birthday_bonus", {"points": points, "rule": names(rule)})


def milestone_bonus(*, points: int, milestone) -> Words:
    return Words("milestone_bonus", {"points": points, "milestone": names(milestone)})


def adjusted(*, points: int) -> Words:
    """Staff's own reason stays in `reason`, as typed; only the frame is translated."""
    return Words("adjusted", {"points": points})


# --- rendering ------------------------------------------------------------------------------


def activity_bonus(*, points: int, activity_type) -> Words:
    return Words("activity_bonus", {"points": points, "activity": names(activity_type)})


def referral_welcome(*, points: int) -> Words:
    return Words("referral_welcome", {"points": points})


def referral_bonus(*, points: int) -> Words:
    return Words("referral_bonus", {"points": points})


def merged_out(*, points: int, target: int) -> Words:
    return Words("merged_out", {"points": points, "member": target})


def merged_in(*, points: int, source: int) -> Words:
    return Words("merged_in", {"points": points, "member": source})


def owed_merged_in(*, points: int, source: int) -> Words:
    return Words("owed_merged_in", {"points": points, "member": source})


def hold_merged_out(*, points: int, target: int) -> Words:
    return Words("hold_merged_out", {"points": points, "member": target})


def hold_merged_in(*, points: int) -> Words:
    return Words("hold_merged_in", {"points": points})


def _money(params: dict, amount_key: str = "amount") -> str:
    try:
        amount = Decimal(params[amount_key])
    except (KeyError, InvalidOperation, TypeError):
        return str(params.get(amount_key, ""))
    return money_format(amount, params.get("currency") or "EUR")


def _day(iso: str) -> str:
    try:
        return date_format(date.fromisoformat(iso))
    except (TypeError, ValueError):
        return str(iso)


def _span(params: dict) -> str:
    first, last = params.get("first", ""), params.get("last", "")
    if first == last:
        return _day(first)
    return gettext("%(first)s to %(last)s") % {"first": _day(first), "last": _day(last)}


def _render_earned(p):
    return ngettext(
        "Earned %(points)s point on order %(order)s (%(amount)s).",
        "Earned %(points)s points on order %(order)s (%(amount)s).",
        p["points"],
    ) % {"points": p["points"], "order": p.get("order", ""), "amount": _money(p)}


def _render_refunded(p):
    text = ngettext(
        "Reversed %(points)s point for a refund of %(amount)s on order %(order)s.",
        "Reversed %(points)s points for a refund of %(amount)s on order %(order)s.",
        p["points"],
    ) % {"points": p["points"], "amount": _money(p), "order": p.get("order", "")}
    owed = p.get("owed") or 0
    if owed:
        text += " " + ngettext(
            "%(owed)s of them was already spent and is owed.",
            "%(owed)s of them were already spent and are owed.",
            owed,
        ) % {"owed": owed}
    return text


def _render_expired(p):
    return ngettext(
        "%(points)s point earned %(span)s expired unspent.",
        "%(points)s points earned %(span)s expired unspent.",
        p["points"],
    ) % {"points": p["points"], "span": _span(p)}


def _render_settled(p):
    return ngettext(
        "%(points)s point settled against points owed from an earlier refund.",
        "%(points)s points settled against points owed from an earlier refund.",
        p["points"],
    ) % {"points": p["points"]}


def _render_held(p):
    return ngettext(
        "Held %(points)s point for a redemption worth %(discount)s.",
        "Held %(points)s points for a redemption worth %(discount)s.",
        p["points"],
    ) % {"points": p["points"], "discount": _money(p, "discount")}


def _render_redeemed(p):
    return ngettext(
        "Redeemed %(points)s point for %(discount)s off.",
        "Redeemed %(points)s points for %(discount)s off.",
        p["points"],
    ) % {"points": p["points"], "discount": _money(p, "discount")}


def _render_redeemed_reward(p):
    return ngettext(
        "Redeemed %(points)s point for the reward “%(reward)s”.",
        "Redeemed %(points)s points for the reward “%(reward)s”.",
        p["points"],
    ) % {"points": p["points"], "reward": name_in_language(p.get("reward"))}


def _render_captured(p):
    return ngettext(
        "Spent the %(points)s held point.", "Spent the %(points)s held points.", p["points"]
    ) % {"points": p["points"]}


def _render_hold_expired(p):
    return ngettext(
        "Hold of %(points)s point expired unused; point returned.",
        "Hold of %(points)s points expired unused; points returned.",
        p["points"],
    ) % {"points": p["points"]}


def _render_hold_voided(p):
    return ngettext(
        "Hold of %(points)s point voided; point returned.",
        "Hold of %(points)s points voided; points returned.",
        p["points"],
    ) % {"points": p["points"]}


def _render_cancelled(p):
    return ngettext(
        "Redemption cancelled; %(points)s point returned.",
        "Redemption cancelled; %(points)s points returned.",
        p["points"],
    ) % {"points": p["points"]}


def _render_voucher_cancelled(p):
    return ngettext(
        "Voucher %(code)s for the reward “%(reward)s” cancelled; %(points)s point returned.",
        "Voucher %(code)s for the reward “%(reward)s” cancelled; %(points)s points returned.",
        p["points"],
    ) % {
        "points": p["points"],
        "code": p.get("code", ""),
        "reward": name_in_language(p.get("reward")),
    }


def _render_signup_bonus(p):
    return ngettext(
        "Sign-up bonus: %(points)s point (%(rule)s).",
        "Sign-up bonus: %(points)s points (%(rule)s).",
        p["points"],
    ) % {"points": p["points"], "rule": name_in_language(p.get("rule"))}


def _render_birthday_bonus(p):
    return ngettext(
        "Happy birthday: %(points)s bonus point (%(rule)s).",
        "Happy birthday: %(points)s bonus points (%(rule)s).",
        p["points"],
    ) % {"points": p["points"], "rule": name_in_language(p.get("rule"))}


def _render_milestone_bonus(p):
    return ngettext(
        "Milestone reached: %(milestone)s. %(points)s bonus point.",
        "Milestone reached: %(milestone)s. %(points)s bonus points.",
        p["points"],
    ) % {"points": p["points"], "milestone": name_in_language(p.get("milestone"))}


def _render_activity_bonus(p):
    return ngettext(
        "Activity: %(activity)s. %(points)s point.",
        "Activity: %(activity)s. %(points)s points.",
        p["points"],
    ) % {"points": p["points"], "activity": name_in_language(p.get("activity"))}


def _render_referral_welcome(p):
    return ngettext(
        "Welcome bonus for joining through a friend: %(points)s point.",
        "Welcome bonus for joining through a friend: %(points)s points.",
        p["points"],
    ) % {"points": p["points"]}


def _render_referral_bonus(p):
    return ngettext(
        "Referral bonus: a friend you referred made their first purchase. %(points)s point.",
        "Referral bonus: a friend you referred made their first purchase. %(points)s points.",
        p["points"],
    ) % {"points": p["points"]}


def _render_merged_out(p):
    return ngettext(
        "Merged into member #%(member)s: %(points)s point moved.",
        "Merged into member #%(member)s: %(points)s points moved.",
        p["points"],
    ) % {"points": p["points"], "member": p["member"]}


def _render_merged_in(p):
    return ngettext(
        "%(points)s point moved from member #%(member)s by a merge.",
        "%(points)s points moved from member #%(member)s by a merge.",
        p["points"],
    ) % {"points": p["points"], "member": p["member"]}


def _render_owed_merged_in(p):
    return ngettext(
        "%(points)s owed point moved from member #%(member)s by a merge.",
        "%(points)s owed points moved from member #%(member)s by a merge.",
        p["points"],
    ) % {"points": p["points"], "member": p["member"]}


def _render_hold_merged_out(p):
    return ngettext(
        "Hold of %(points)s point moved to member #%(member)s by a merge.",
        "Hold of %(points)s points moved to member #%(member)s by a merge.",
        p["points"],
    ) % {"points": p["points"], "member": p["member"]}


def _render_hold_merged_in(p):
    return ngettext(
        "Hold of %(points)s point moved here by a merge.",
        "Hold of %(points)s points moved here by a merge.",
        p["points"],
    ) % {"points": p["points"]}


RENDERERS = {
    "earned": _render_earned,
    "refunded": _render_refunded,
    "expired": _render_expired,
    "settled": _render_settled,
    "held": _render_held,
    "redeemed": _render_redeemed,
    "redeemed_reward": _render_redeemed_reward,
    "captured": _render_captured,
    "hold_expired": _render_hold_expired,
    "hold_voided": _render_hold_voided,
    "cancelled": _render_cancelled,
    "voucher_cancelled": _render_voucher_cancelled,
    "signup_bonus": _render_signup_bonus,
    "birthday_bonus": _render_birthday_bonus,
    "milestone_bonus": _render_milestone_bonus,
    "activity_bonus": _render_activity_bonus,
    "referral_welcome": _render_referral_welcome,
    "referral_bonus": _render_referral_bonus,
    "merged_out": _render_merged_out,
    "merged_in": _render_merged_in,
    "owed_merged_in": _render_owed_merged_in,
    "hold_merged_out": _render_hold_merged_out,
    "hold_merged_in": _render_hold_merged_in,
}


# --- entries written before message keys: their English sentences -------------------------

_NUMBER = r"(?P<points>\d+)"
_MONEY = r"(?P<amount>-?\d+(?:\.\d+)?) (?P<currency>[A-Z]{3})"
LEGACY_PATTERNS: list[tuple[str, re.Pattern]] = [
    (
        "earned",
        re.compile(rf"^Earned {_NUMBER} points on order (?P<order>.*) \({_MONEY}\)\.$", re.S),
    ),
    (
        "refunded",
        re.compile(
            rf"^Reversed {_NUMBER} points for a refund of {_MONEY} on order (?P<order>.*?)\."
            r"(?: (?P<owed>\d+) of them were already spent and are owed\.)?$",
            re.S,
        ),
    ),
    (
        "expired",
        re.compile(
            rf"^{_NUMBER} points earned (?P<first>\d{{4}}-\d\d-\d\d)"
            r"(?: to (?P<last>\d{4}-\d\d-\d\d))? expired unspent\.$"
        ),
    ),
    (
        "settled",
        re.compile(rf"^{_NUMBER} points settled against points owed from an earlier refund\.$"),
    ),
    (
        "held",
        re.compile(
            rf"^Held {_NUMBER} points for a redemption worth (?P<discount>-?\d+(?:\.\d+)?) "
            r"(?P<currency>[A-Z]{3})\.$"
        ),
    ),
    (
        "redeemed",
        re.compile(
            rf"^Redeemed {_NUMBER} points for (?P<discount>-?\d+(?:\.\d+)?) "
            r"(?P<currency>[A-Z]{3}) off\.$"
        ),
    ),
    (
        "redeemed_reward",
        re.compile(rf'^Redeemed {_NUMBER} points for the reward "(?P<reward>.*)"\.$', re.S),
    ),
    ("captured", re.compile(rf"^Spent the {_NUMBER} held points\.$")),
    ("hold_expired", re.compile(rf"^Hold of {_NUMBER} points expired unused; points returned\.$")),
    ("hold_voided", re.compile(rf"^Hold of {_NUMBER} points voided; points returned\.$")),
    ("cancelled", re.compile(rf"^Redemption cancelled; {_NUMBER} points returned\.$")),
    (
        "voucher_cancelled",
        re.compile(
            rf'^Voucher (?P<code>\S+) for the reward "(?P<reward>.*)" cancelled; {_NUMBER} '
            r"points returned\.$",
            re.S,
        ),
    ),
    ("signup_bonus", re.compile(rf"^Sign-up bonus: {_NUMBER} points \((?P<rule>.*)\)\.$", re.S)),
    (
        "birthday_bonus",
        re.compile(rf"^Happy birthday: {_NUMBER} bonus points \((?P<rule>.*)\)\.$", re.S),
    ),
    (
        "milestone_bonus",
        re.compile(rf"^Milestone reached: (?P<milestone>.*)\. {_NUMBER} bonus points\.$", re.S),
    ),
]


def legacy_words(sentence: str) -> Words | None:
    """The key and parameters of an English sentence written before keys existed."""
    for key, pattern in LEGACY_PATTERNS:
        match = pattern.match(sentence)
        if match:
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            params["points"] = int(params["points"])
            if "owed" in params:
                params["owed"] = int(params["owed"])
            if key == "expired":
                params.setdefault("last", params["first"])
            return Words(key, params)
    return None


def entry_words(entry) -> Words | None:
    if entry.message_key:
        return Words(entry.message_key, entry.message_params or {})
    return legacy_words(entry.reason or "")


def entry_description(entry) -> str:
    """What the entry says, in the active language."""
    words = entry_words(entry)
    if words is None and entry.kind == "adjust":
        words = Words("adjusted")
    if words is not None and words.key == "adjusted":
        return gettext("Adjustment by staff: %(reason)s") % {"reason": entry.reason}
    if words is None or words.key not in RENDERERS:
        return entry.reason
    try:
        return RENDERERS[words.key](words.params)
    except (KeyError, TypeError, ValueError):
        # Parameters this code cannot read (written by a later version): its words as kept.
        return entry.reason or words.key


def event_reason(entry) -> str:
    """An entry's words in an event: what staff typed, else its sentence in English, the
    language of webhook payloads (members read their own language from the ledger)."""
    if entry.reason:
        return entry.reason
    with translation.override(settings.LANGUAGE_CODE):
        return entry_description(entry)


def words_in_english(words: Words) -> str:
    """Words not yet written to an entry (a set-based writer's event), in English."""
    with translation.override(settings.LANGUAGE_CODE):
        renderer = RENDERERS.get(words.key)
        return renderer(words.params) if renderer else words.key
