"""Every word a member reads, in the member's language: Swedish, Danish and English.

Each API test runs in the three languages, asserts the language's own words and, for
Swedish and Danish, that no English sentence is left in the response."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from babel.numbers import format_currency, format_decimal
from django.utils import timezone, translation
from rest_framework.test import APIClient

from loyalty_engine import i18n
from loyalty_engine.locale_format import babel_locale, money_format, number_format
from members.models import Member
from rewards.ledger_words import entry_description, legacy_words
from rewards.models import LedgerEntry, Program, Reward, Tier
from tests.conftest import member_client_for

pytestmark = pytest.mark.django_db

# Words that only an English sentence has ("for", "point" and "order" are Danish or
# Swedish words too, so they are not here).
ENGLISH = re.compile(
    r"\b(the|you|your|points|purchase|earned|expired|expire|every|spent|reward|with|when|"
    r"refund|redeemed|held|members|once)\b",
    re.IGNORECASE,
)

LANGUAGES = {
    # language: (currency, an amount of 1234.50 as a sentence writes it, its own words)
    "sv": ("SEK", "1 234,50 kr", ["poäng", "intjänade"]),
    "da": ("DKK", "1.234,50 kr.", ["point", "optjent"]),
    "en": ("EUR", "€1,234.50", ["points", "Earned"]),
}


def texts(value) -> list[str]:
    """Every string in a JSON body."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    return []


def assert_no_english(language: str, body) -> None:
    if language == "en":
        return
    english = [text for text in texts(body) if " " in text and ENGLISH.search(text)]
    assert not english, english


@pytest.fixture
def program_in(db):
    def configure(language: str) -> Program:
        currency = LANGUAGES[language][0]
        program, _ = Program.objects.get_or_create(pk=1)
        program.currency = currency
        program.name_en, program.name_sv, program.name_da = (
            "Coffee club",
            "Kaffeklubben",
            "Kaffeklubben",
        )
        program.save()
        return program

    return configure


@pytest.fixture
def shop_api(shop_client):
    return shop_client


def buy(shop_client, member, amount, *, order_id, language, **extra):
    return shop_client.post(
        f"/api/v1/purchases?lang={language}",
        {
            "member": member.external_id,
            "order_id": order_id,
            "amount": amount,
            "currency": LANGUAGES[language][0],
            **extra,
        },
        format="json",
    )


def ledger(member, language: str) -> list[dict]:
    client = member_client_for(member)
    response = client.get("/api/v1/me/transactions", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response["Content-Language"] == language
    return response.json()["results"]


def named_tiers():
    bronze = Tier.objects.create(
        name_en="Bronze", name_sv="Brons", name_da="Bronze", rank=1, threshold=0
    )
    gold = Tier.objects.create(
        name_en="Gold",
        name_sv="Guld",
        name_da="Guld",
        rank=2,
        threshold=5000,
        benefits_en="Free coffee refills",
        benefits_sv="Fri påtår",
        benefits_da="Gratis påfyldning af kaffe",
    )
    return bronze, gold


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_the_program_page_speaks_the_language(language, program_in):
    program_in(language)
    named_tiers()
    response = APIClient().get("/api/v1/program", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200 and response["Content-Language"] == language
    body = response.json()
    words = " ".join(texts(body))
    expected = {
        "sv": ["poäng", "går ut", "nivå", "Kaffeklubben", "Guld"],
        "da": ["point", "udløber", "niveau", "Kaffeklubben", "Guld"],
        "en": ["points", "expire", "tier", "Coffee club", "Gold"],
    }[language]
    for word in expected:
        assert word in words, (word, words)
    assert_no_english(language, body)


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_a_purchase_itemizes_in_the_language_with_local_money(
    language, program_in, shop_client, member
):
    program_in(language)
    response = buy(shop_client, member, "1234.50", order_id="A-1", language=language)
    assert response.status_code == 201, response.json()
    body = response.json()
    (item,) = body["items"]
    assert LANGUAGES[language][1] in item["description"]
    assert body["items"][0]["points"] == 1234
    assert_no_english(language, body)

    (entry,) = ledger(member, language)
    assert LANGUAGES[language][1] in entry["description"]
    assert "A-1" in entry["description"]
    for word in LANGUAGES[language][2]:
        assert word in entry["description"], entry["description"]
    assert_no_english(language, entry["description"])


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_redemption_refund_and_expiry_entries_read_in_the_language(
    language, program_in, shop_client, member
):
    program_in(language)
    assert buy(shop_client, member, "100", order_id="A-1", language=language).status_code == 201
    redeemed = shop_client.post(
        "/api/v1/redemptions",
        {"member": member.external_id, "points": 30},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-1",
    )
    assert redeemed.status_code == 201
    refunded = shop_client.post(
        "/api/v1/purchases/A-1/refunds", {"refund_id": "R-1", "amount": "50"}, format="json"
    )
    assert refunded.status_code == 201
    # Dated long ago: its points are earned and expire in the same step.
    old = (timezone.now() - timedelta(days=800)).isoformat()
    assert (
        buy(shop_client, member, "7", order_id="OLD", language=language, occurred_at=old)
    ).status_code == 201

    entries = {entry["kind"]: entry["description"] for entry in ledger(member, language)}
    expected = {
        "sv": {"redeem": "30 poäng inlösta", "refund": "dras tillbaka", "expire": "gick ut"},
        "da": {"redeem": "30 point indløst", "refund": "trukket tilbage", "expire": "udløb"},
        "en": {"redeem": "Redeemed 30 points", "refund": "Reversed", "expire": "expired"},
    }[language]
    for kind, words in expected.items():
        assert words in entries[kind], (kind, entries[kind])
    assert_no_english(language, list(entries.values()))


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_my_tier_names_the_tier_and_benefits_in_the_language(
    language, program_in, shop_client, member
):
    program_in(language)
    named_tiers()
    assert buy(shop_client, member, "6000", order_id="A-1", language=language).status_code == 201
    response = member_client_for(member).get(f"/api/v1/me/tier?lang={language}")
    assert response.status_code == 200 and response["Content-Language"] == language
    body = response.json()
    assert body["tier"]["name"] == {"sv": "Guld", "da": "Guld", "en": "Gold"}[language]
    assert body["tier"]["benefits"] == [
        {"sv": "Fri påtår", "da": "Gratis påfyldning af kaffe", "en": "Free coffee refills"}[
            language
        ]
    ]
    assert (
        body["history"][0]["detail"]
        == {
            "sv": "Du nådde Guld.",
            "da": "Du nåede Guld.",
            "en": "You reached Gold.",
        }[language]
    )
    assert_no_english(language, body)


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_my_rewards_say_why_not_in_the_language(language, program_in, member):
    program_in(language)
    bronze, gold = named_tiers()
    reward = Reward.objects.create(
        name_en="Travel mug",
        name_sv="Resemugg",
        name_da="Termokrus",
        description_en="Our steel mug.",
        description_sv="Vår mugg i stål.",
        description_da="Vores krus i stål.",
        points_cost=400,
    )
    reward.tiers.set([gold])
    response = member_client_for(member).get(
        "/api/v1/me/rewards", HTTP_ACCEPT_LANGUAGE=f"{language};q=0.9, xx"
    )
    assert response.status_code == 200 and response["Content-Language"] == language
    (item,) = response.json()["rewards"]
    assert item["name"] == {"sv": "Resemugg", "da": "Termokrus", "en": "Travel mug"}[language]
    assert item["unavailable_reason"]["code"] == "reward_tier_required"
    assert (
        item["unavailable_reason"]["message"]
        == {
            "sv": "Belöningen är för medlemmar på nivå Guld.",
            "da": "Belønningen er for medlemmer på niveau Guld.",
            "en": "This reward is for members of Gold.",
        }[language]
    )
    assert_no_english(language, response.json())


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_insufficient_points_error_in_the_language_with_the_same_code(
    language, program_in, shop_client, member
):
    program_in(language)
    response = shop_client.post(
        "/api/v1/redemptions",
        {"member": member.external_id, "points": 30},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-1",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "insufficient_points"
    assert (
        error["message"]
        == {
            "sv": "Medlemmet har 0 poäng att använda; 30 efterfrågades.",
            "da": "Medlemmet har 0 point til rådighed; der blev bedt om 30.",
            "en": "The member has 0 points available; 30 were asked for.",
        }[language]
    )
    assert response["Content-Language"] == language


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_a_validation_error_names_the_field_in_the_language(language, program_in, shop_client):
    program_in(language)
    response = shop_client.post(
        f"/api/v1/members?lang={language}",
        {"external_id": "new-1", "language": "fi"},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["language"]
    message = error["fields"]["language"][0]["message"]
    assert (
        message
        == {
            "sv": '"fi" är inte ett giltigt val.',
            "da": '"fi" er ikke et gyldigt valg.',
            "en": '"fi" is not a valid choice.',
        }[language]
    )
    assert not Member.objects.filter(external_id="new-1").exists()
    assert_no_english(language, error)


# --- how the language is chosen --------------------------------------------------------------


def test_a_member_enrolls_with_a_language_and_the_shop_can_change_it(shop_client, program):
    response = shop_client.post(
        "/api/v1/members", {"external_id": "ann", "language": "sv"}, format="json"
    )
    assert response.status_code == 201 and response.json()["language"] == "sv"
    changed = shop_client.post("/api/v1/members/ann/language", {"language": "da"}, format="json")
    assert changed.status_code == 200 and changed.json()["language"] == "da"
    assert Member.objects.get(external_id="ann").language == "da"
    bad = shop_client.post("/api/v1/members/ann/language", {"language": "de"}, format="json")
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["language"]


def test_the_language_is_chosen_in_order(program_in, member):
    program_in("en")
    member.language = "da"
    member.save()
    client = member_client_for(member)

    def language(**extra):
        response = client.get(extra.pop("path", "/api/v1/me/balance"), **extra)
        assert response.status_code == 200
        return response["Content-Language"]

    assert language(path="/api/v1/me/balance?lang=sv", HTTP_ACCEPT_LANGUAGE="en") == "sv"
    assert language(HTTP_ACCEPT_LANGUAGE="sv-SE,sv;q=0.9,en;q=0.8") == "sv"
    assert language(HTTP_ACCEPT_LANGUAGE="de, fr;q=0.5") == "da"  # none we speak: the member's
    assert language(path="/api/v1/me/balance?lang=xx") == "da"  # unsupported: falls back
    assert language(HTTP_ACCEPT_LANGUAGE="sv;q=abc,,;;") == "da"  # malformed: ignored
    member.language = ""
    member.save()
    assert language() == "en"  # the program's default
    program = Program.objects.get(pk=1)
    program.default_language = "sv"
    program.save()
    assert language() == "sv"


def test_a_shops_request_about_a_member_answers_in_the_members_language(program_in, shop_client):
    program_in("en")
    danish = Member.objects.create(external_id="dane", language="da", enrolled_at=timezone.now())
    response = shop_client.post(
        "/api/v1/purchases",
        {"member": "dane", "order_id": "D-1", "amount": "100", "currency": "EUR"},
        format="json",
    )
    assert response.status_code == 201 and response["Content-Language"] == "da"
    assert response.json()["items"][0]["name"] == "Grundpoint"
    refused = shop_client.post(
        "/api/v1/redemptions",
        {"member": danish.external_id, "points": 500},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-1",
    )
    assert refused.json()["error"]["code"] == "insufficient_points"
    assert "point til rådighed" in refused.json()["error"]["message"]
    asked_in_english = shop_client.post(
        "/api/v1/redemptions",
        {"member": danish.external_id, "points": 500},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-2",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert asked_in_english.json()["error"]["message"].startswith("The member has 100 points")


def test_every_response_carries_content_language_even_an_error(program):
    response = APIClient().get("/api/v1/nowhere", HTTP_ACCEPT_LANGUAGE="da")
    assert response.status_code == 404 and response["Content-Language"] == "da"
    unauthenticated = APIClient().get("/api/v1/me/balance", HTTP_ACCEPT_LANGUAGE="sv")
    assert unauthenticated.status_code in (401, 403)
    assert unauthenticated["Content-Language"] == "sv"
    assert "Accept-Language" in unauthenticated["Vary"]


def test_accept_language_parsing():
    assert i18n.from_accept_language("da, en-gb;q=0.8, en;q=0.7") == "da"
    assert i18n.from_accept_language("en;q=0.1, sv;q=0.9") == "sv"
    assert i18n.from_accept_language("*") is None
    assert i18n.from_accept_language("sv;q=2") is None
    assert i18n.from_accept_language("s v") is None
    assert i18n.from_accept_language("x" * 600) is None


# --- names staff enter and entries written before keys ------------------------------------


def test_a_missing_name_falls_back_to_the_program_default_never_empty(program_in, member):
    program = program_in("sv")
    program.default_language = "sv"
    program.save()
    Reward.objects.create(name_sv="Gratis kaffe", name_en="", name_da="", points_cost=10)
    for language in ("sv", "da", "en"):
        response = member_client_for(member).get(f"/api/v1/me/rewards?lang={language}")
        assert response.json()["rewards"][0]["name"] == "Gratis kaffe"


LEGACY = [
    ("earn", "Earned 42 points on order A-100 (42.50 EUR).", "A-100"),
    ("expire", "42 points earned 2025-01-15 to 2025-01-18 expired unspent.", "2025"),
    (
        "refund",
        "Reversed 5 points for a refund of 5.00 EUR on order A-1. 2 of them were "
        "already spent and are owed.",
        "A-1",
    ),
    ("redeem", 'Redeemed 40 points for the reward "Free coffee".', "Free coffee"),
    ("cancel", "Redemption cancelled; 40 points returned.", "40"),
    ("bonus", "Sign-up bonus: 100 points (Welcome).", "Welcome"),
    ("settle", "3 points settled against points owed from an earlier refund.", "3"),
    ("capture", "Spent the 40 held points.", "40"),
]


@pytest.mark.parametrize(("kind", "sentence", "kept"), LEGACY)
def test_entries_written_before_keys_read_in_every_language(kind, sentence, kept, member):
    assert legacy_words(sentence) is not None, sentence
    entry = LedgerEntry.objects.create(
        member=member,
        kind=kind,
        points=1,
        reason=sentence,
        actor_kind="system",
        effective_at=timezone.now(),
        created_at=timezone.now(),
    )
    client = member_client_for(member)
    seen = {}
    for language in ("sv", "da", "en"):
        (row,) = client.get(f"/api/v1/me/transactions?lang={language}").json()["results"]
        seen[language] = row["description"]
        assert kept in row["description"]
        assert_no_english(language, row["description"])
    assert len(set(seen.values())) == 3, seen
    entry.refresh_from_db()
    assert entry.reason == sentence and entry.message_key == ""  # not rewritten


def test_legacy_expiry_dates_are_written_out_per_language(member):
    entry = LedgerEntry(
        member=member,
        kind="expire",
        reason="42 points earned 2025-01-15 to 2025-01-18 expired unspent.",
    )
    from django.utils import translation

    with translation.override("sv"):
        assert entry_description(entry) == (
            "42 poäng intjänade 15 januari 2025–18 januari 2025 gick ut oanvända."
        )
    with translation.override("da"):
        assert entry_description(entry) == (
            "42 point optjent 15. januar 2025–18. januar 2025 udløb ubrugt."
        )


def test_new_entries_store_a_key_and_no_english_sentence(shop_client, member, program_in):
    program_in("sv")
    assert buy(shop_client, member, "10", order_id="A-9", language="sv").status_code == 201
    entry = LedgerEntry.objects.get(member=member)
    assert (entry.reason, entry.message_key) == ("", "earned")
    params = entry.message_params
    assert (params["points"], params["order"], params["currency"]) == (10, "A-9", "SEK")
    assert Decimal(params["amount"]) == Decimal(10)


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_my_milestones_are_named_in_the_language(language, program_in, member):
    from rewards.models import Milestone

    program_in(language)
    Milestone.objects.create(
        name_en="Tenth purchase",
        name_sv="Tionde köpet",
        name_da="Tiende køb",
        description_en="Ten visits",
        description_sv="Tio besök",
        description_da="Ti besøg",
        kind=Milestone.Kind.PURCHASE_COUNT,
        target=10,
        bonus_points=100,
    )
    response = member_client_for(member).get(f"/api/v1/me/milestones?lang={language}")
    assert response.status_code == 200 and response["Content-Language"] == language
    (milestone,) = response.json()["results"]
    assert (milestone["name"], milestone["description"]) == {
        "sv": ("Tionde köpet", "Tio besök"),
        "da": ("Tiende køb", "Ti besøg"),
        "en": ("Tenth purchase", "Ten visits"),
    }[language]
    assert_no_english(language, response.json())


@pytest.mark.parametrize("language", ["sv", "da", "en"])
def test_money_and_numbers_read_as_babel_writes_them_every_time(language):
    """loyalty_engine.locale_format keeps the texts it made (issue 18): each is still
    Babel's own, for the first and any later call, in each language, and an amount
    written with more places is formatted for itself."""
    locale = babel_locale(language)
    amounts = [Decimal("0"), Decimal("57.31"), Decimal("57.310"), Decimal("1234.5"), 12, "7.125"]
    for _ in range(2):
        for currency in ("EUR", "SEK", "JPY", "BHD"):
            for amount in amounts:
                expected = format_currency(Decimal(str(amount)), currency, locale=locale)
                expected = expected.replace("\u00a0", " ").replace("\u202f", " ")
                assert money_format(amount, currency, language=language) == expected
        for value in (Decimal("1.50"), Decimal("2"), "0.25", 3, Decimal("1234.5")):
            expected = format_decimal(Decimal(value).normalize(), locale=locale)
            assert number_format(value, language=language) == expected.replace("\u00a0", " ")
    with translation.override(language):
        assert money_format(Decimal("1234.50"), "EUR") == money_format(
            Decimal("1234.50"), "EUR", language=language
        )
