"""The plain earn in one statement (rewards.services.plain_earn, issue 18) writes what the
Python path writes, row by row, and falls back to it whenever the earn is not plain.

Each equality test runs the same earn twice on the same member from the same state: the
Python path (EARN_PLAIN_FUNCTION off) in a savepoint that is rolled back, then the
function. Every row either wrote is compared with its ids, uuids and the event's own
creation time left out, and the number of rows of every table in the project."""

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import translation

from loyalty_engine.events.models import Event
from members.models import Member
from rewards.models import (
    EarnAward,
    EarnRule,
    LedgerEntry,
    Milestone,
    PointLot,
    Program,
    Purchase,
    Tier,
)
from rewards.services import plain_earn
from rewards.services.merges import member_merge
from rewards.services.plain_earn import plain_earn_try
from rewards.services.purchases import purchase_record
from tests.conftest import earn
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

AS_OF = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 1 April in Stockholm
FUNCTION = "loyalty_earn_plain"


@pytest.fixture(autouse=True)
def _no_program_copy():
    plain_earn.program_copy_forget()
    yield
    plain_earn.program_copy_forget()


class _Undo(Exception):
    pass


def _counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def _rows(member: Member) -> dict:
    """Every row of the member's earns, ids replaced by their order among their kind."""
    purchases = list(Purchase.objects.filter(member=member).order_by("id").values())
    entries = list(LedgerEntry.objects.filter(member=member).order_by("id").values())
    ids = {
        "purchase": {row["id"]: n for n, row in enumerate(purchases)},
        "entry": {row["id"]: n for n, row in enumerate(entries)},
    }

    def clean(rows, drop=("id",)):
        out = []
        for row in rows:
            row = {key: value for key, value in row.items() if key not in drop}
            for key, kind in (("purchase_id", "purchase"), ("entry_id", "entry")):
                if row.get(key) is not None:
                    row[key] = ids[kind][row[key]]
            out.append(row)
        return out

    return {
        "member": Member.objects.filter(pk=member.pk).values().get(),
        "purchases": clean(purchases),
        "entries": clean(entries),
        "lots": clean(PointLot.objects.filter(member=member).order_by("id").values()),
        "awards": clean(EarnAward.objects.filter(member=member).order_by("id").values()),
        "events": clean(
            Event.objects.filter(member=member).order_by("seq").values(),
            drop=("seq", "uid", "created_at"),
        ),
    }


def _both_paths(run, member) -> tuple:
    """(rows, counts, answer) after `run()` on the Python path, then on the function."""
    with override_settings(EARN_PLAIN_FUNCTION=False):
        # A savepoint that the write services' durable blocks may nest in, as Django's
        # TestCase marks its own.
        undo = transaction.atomic()
        undo._from_testcase = True
        try:
            with undo:
                with CaptureQueriesContext(connection) as python_queries:
                    python_answer = run()
                python = (_rows(member), _counts(), python_answer)
                raise _Undo
        except _Undo:
            pass
    assert not any(FUNCTION in q["sql"] for q in python_queries.captured_queries)
    plain_earn.program_copy_forget()
    plain_earn_try_warm()
    with CaptureQueriesContext(connection) as function_queries:
        function_answer = run()
    assert [q for q in function_queries.captured_queries if FUNCTION in q["sql"]], (
        "the function was not called"
    )
    # The savepoint pair of the test's transaction, and the one statement.
    assert len(function_queries.captured_queries) == 3, function_queries.captured_queries
    return python, (_rows(member), _counts(), function_answer)


def plain_earn_try_warm() -> None:
    """Read the program copy now, so the compared run is the function's one statement."""
    plain_earn._program_copy()


def _earn(shop, member, order_id="A-1", amount="57.31", currency="EUR", **kwargs):
    return purchase_record(
        shop=shop,
        member_external_id=member.external_id,
        order_id=order_id,
        amount=Decimal(amount),
        currency=currency,
        occurred_at=None,
        lines=[],
        request_hash=f"hash-{order_id}",
        as_of=kwargs.pop("as_of", AS_OF),
        **kwargs,
    ).response


def _assert_same(python, function):
    assert function[0] == python[0]
    assert function[1] == python[1]
    assert function[2] == python[2]


PROGRAMS = {
    "default": {},
    "rolling at month end in Stockholm": {
        "expiry_policy": "rolling",
        "expiry_months": 6,
        "expiry_at_month_end": True,
        "timezone": "Europe/Stockholm",
    },
    "fixed periods": {
        "expiry_policy": "fixed",
        "expiry_period_months": 3,
        "expiry_after_period_months": 12,
    },
    "never": {"expiry_policy": "never"},
    "rolling without months": {"expiry_policy": "rolling", "expiry_months": None},
    "2.5 points per unit": {"points_per_unit": Decimal("2.5")},
    "Swedish kronor in Copenhagen": {"currency": "SEK", "timezone": "Europe/Copenhagen"},
    "yen": {"currency": "JPY"},
}


@pytest.mark.parametrize("name", PROGRAMS)
@pytest.mark.parametrize("language", ["en", "sv", "da"])
def test_a_plain_earn_writes_what_the_python_path_writes(program, shop, name, language):
    Program.objects.filter(pk=program.pk).update(**PROGRAMS[name])
    program.refresh_from_db()
    member = MemberFactory(language=language)
    earn(shop, member, "10.00", currency=program.currency)  # a balance to add to
    amount = "5731" if program.currency == "JPY" else "57.31"
    with translation.override(language):
        python, function = _both_paths(
            lambda: _earn(shop, member, amount=amount, currency=program.currency), member
        )
    _assert_same(python, function)
    assert function[2]["points_earned"] > 0
    assert_reconciles(member)


def test_the_local_date_and_expiry_follow_the_programs_time_zone(program, shop):
    Program.objects.filter(pk=program.pk).update(
        timezone="Europe/Stockholm",
        expiry_policy="rolling",
        expiry_months=1,
        expiry_at_month_end=True,
    )
    member = MemberFactory()
    python, function = _both_paths(lambda: _earn(shop, member), member)
    _assert_same(python, function)
    award = function[0]["awards"][0]
    assert award["local_date"].isoformat() == "2026-04-01"
    # Earned in April in Stockholm: expires at the end of May there (in UTC it was still
    # March, which would have given the end of April).
    assert function[0]["lots"][0]["expires_at"] == datetime(2026, 5, 31, 22, 0, tzinfo=UTC)


@pytest.fixture
def languages_program(program):
    Program.objects.filter(pk=program.pk).update(default_language="da")
    from loyalty_engine import i18n

    i18n.program_language_set("da")
    yield program
    i18n.program_language_set("en")


def _api_rows(rows: dict) -> dict:
    """Rows of an earn through the API, with their times left out (now differs)."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return "<time>" if isinstance(value, datetime) else value

    return strip(rows)


@pytest.mark.parametrize(
    "member_language, header, expected",
    [
        ("sv", None, "sv"),  # the member's language
        ("", None, "da"),  # the program's default
        ("sv", "en", "en"),  # the request's language
        ("en", "da-DK,da;q=0.9", "da"),
        ("da", "fi", "da"),  # a language we do not speak: the member's
    ],
)
def test_through_the_api_the_answer_speaks_as_the_python_path_does(
    languages_program, shop, shop_client, member_language, header, expected
):
    member = MemberFactory(language=member_language)
    headers = {"HTTP_ACCEPT_LANGUAGE": header} if header else {}
    answers = []

    def run():
        body = {
            "member": member.external_id,
            "order_id": "A-1",
            "amount": "1234.50",
            "currency": "EUR",
        }
        response = shop_client.post("/api/v1/purchases", body, format="json", **headers)
        answers.append(response)
        return response.status_code, response.json(), response["Content-Language"]

    python, function = _both_paths(run, member)
    assert _api_rows(function[0]) == _api_rows(python[0])
    assert function[1] == python[1]
    assert function[2] == python[2]
    status, body, content_language = function[2]
    assert status == 201
    assert content_language == expected
    assert body["items"][0]["description"] == function[0]["awards"][0]["description"]


def test_a_replay_and_a_conflict_are_answered_by_the_python_path(program, shop, shop_client):
    member = MemberFactory()
    body = {"member": member.external_id, "order_id": "A-1", "amount": "25.90", "currency": "EUR"}
    plain_earn_try_warm()
    first = shop_client.post("/api/v1/purchases", body, format="json")
    assert first.status_code == 201
    assert Purchase.objects.filter(member=member).count() == 1
    again = shop_client.post("/api/v1/purchases", body, format="json")
    assert again.status_code == 200
    assert again["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    other = shop_client.post("/api/v1/purchases", {**body, "amount": "30.00"}, format="json")
    assert other.status_code == 409
    assert LedgerEntry.objects.filter(member=member).count() == 1
    assert_reconciles(member)


def _try(shop, member_external_id, **kwargs):
    return plain_earn_try(
        shop=shop,
        member_external_id=member_external_id,
        order_id=kwargs.pop("order_id", "B-1"),
        amount=Decimal(kwargs.pop("amount", "20.00")),
        currency=kwargs.pop("currency", "EUR"),
        request_hash="hash",
        as_of=AS_OF,
    )


def _nothing_written(before: dict) -> None:
    assert _counts() == before


def _configure(case, program, member):
    if case == "unknown member":
        return "nobody"
    if case == "suspended member":
        Member.objects.filter(pk=member.pk).update(status=Member.Status.SUSPENDED)
    elif case == "merged member":
        member_merge(source=member, target=MemberFactory(), reason="duplicate")
    elif case == "member owes points":
        Member.objects.filter(pk=member.pk).update(points_owed=5)
    elif case == "a tier":
        Tier.objects.create(name="Bronze", rank=1, threshold=0)
    elif case == "a purchase rule":
        EarnRule.objects.create(name="Double", kind=EarnRule.Kind.CAMPAIGN_MULTIPLIER, multiplier=2)
    elif case == "a milestone":
        Milestone.objects.create(name="Tenth", kind=Milestone.Kind.PURCHASE_COUNT, target=10)
    elif case == "pending days":
        Program.objects.filter(pk=program.pk).update(pending_days=14)
    elif case == "inactivity expiry":
        Program.objects.filter(pk=program.pk).update(
            expiry_policy="inactivity", expiry_inactivity_months=12
        )
    elif case == "another currency":
        return member.external_id, {"currency": "SEK"}
    elif case == "no points":
        return member.external_id, {"amount": "0.50"}
    return member.external_id


FALLBACKS = [
    "unknown member",
    "suspended member",
    "merged member",
    "member owes points",
    "a tier",
    "a purchase rule",
    "a milestone",
    "pending days",
    "inactivity expiry",
    "another currency",
    "no points",
]


@pytest.mark.parametrize("case", FALLBACKS)
def test_an_earn_that_is_not_plain_writes_nothing_and_falls_back(program, shop, case):
    member = MemberFactory()
    configured = _configure(case, program, member)
    external_id, extra = configured if isinstance(configured, tuple) else (configured, {})
    before = _counts()
    assert _try(shop, external_id, **extra) is None
    _nothing_written(before)


def _refused_by_the_function(shop, member) -> None:
    """The function is called, answers that the earn is not plain, and writes nothing."""
    before = _counts()
    with CaptureQueriesContext(connection) as queries:
        assert _try(shop, member.external_id) is None
    assert any(FUNCTION in q["sql"] for q in queries.captured_queries)
    _nothing_written(before)


def test_the_function_itself_refuses_a_member_who_owes_points(program, shop):
    """The member's state is read under the lock, by the function: Python cannot see it."""
    member = MemberFactory()
    plain_earn_try_warm()
    Member.objects.filter(pk=member.pk).update(points_owed=5)
    _refused_by_the_function(shop, member)
    Member.objects.filter(pk=member.pk).update(points_owed=0)
    assert _try(shop, member.external_id) is not None


def test_a_configured_tier_is_seen_by_the_function_and_then_not_asked_again(program, shop):
    member = MemberFactory()
    plain_earn_try_warm()
    Tier.objects.create(name="Bronze", rank=1, threshold=0)
    _refused_by_the_function(shop, member)
    before = _counts()
    with CaptureQueriesContext(connection) as second:
        assert _try(shop, member.external_id) is None
    # Within CONFIGURED_TRUSTED_SECONDS the Python path runs without asking.
    assert second.captured_queries == []
    _nothing_written(before)
    Tier.objects.all().delete()
    plain_earn._copy.configured_at -= plain_earn.CONFIGURED_TRUSTED_SECONDS
    assert _try(shop, member.external_id) is not None


def test_a_failure_in_the_functions_last_write_leaves_nothing_of_the_earn(program, shop):
    """The purchase, entry, lot, award and balance are written before the event: a failure
    of the event's insert (a trigger made for this test) takes them all back."""
    member = MemberFactory()
    earn(shop, member, "10.00")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_event_refused() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected failure of the event'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_event_refused BEFORE INSERT ON events_event "
            "FOR EACH ROW EXECUTE FUNCTION test_event_refused()"
        )
    balance = Member.objects.values_list("points_available", flat=True).get(pk=member.pk)
    _refused_by_the_function(shop, member)
    member.refresh_from_db()
    assert member.points_available == balance
    assert_reconciles(member)


def test_a_program_changed_since_the_copy_was_read_is_read_again(program, shop):
    member = MemberFactory()
    plain_earn_try_warm()
    Program.objects.filter(pk=program.pk).update(points_per_unit=3)
    before = _counts()
    assert _try(shop, member.external_id) is None
    _nothing_written(before)
    # The next earn reads the program again and earns at its new rate.
    result = _try(shop, member.external_id)
    assert result is not None
    assert result.response["points_earned"] == 60


def test_a_copy_that_is_not_plain_is_read_again_when_it_is_old(program, shop):
    """Python sees pending days in its copy and does not ask the function; once the copy
    is CONFIGURED_TRUSTED_SECONDS old it reads the program again."""
    member = MemberFactory()
    Program.objects.filter(pk=program.pk).update(pending_days=14)
    assert _try(shop, member.external_id) is None
    Program.objects.filter(pk=program.pk).update(pending_days=0)
    with CaptureQueriesContext(connection) as queries:
        assert _try(shop, member.external_id) is None
    assert queries.captured_queries == []
    copy = plain_earn._copy.value
    plain_earn._copy.value = dataclasses.replace(
        copy, read_at=copy.read_at - plain_earn.CONFIGURED_TRUSTED_SECONDS
    )
    assert _try(shop, member.external_id) is not None


def test_two_changes_in_one_transaction_are_two_versions(program, shop):
    """A new version of the program row in the same transaction keeps its xmin but not its
    ctid: the copy is still seen as stale."""
    member = MemberFactory()
    Program.objects.filter(pk=program.pk).update(points_per_unit=2)
    plain_earn_try_warm()
    Program.objects.filter(pk=program.pk).update(points_per_unit=3)
    assert _try(shop, member.external_id) is None
    assert _try(shop, member.external_id).response["points_earned"] == 60


def test_requests_with_lines_a_date_or_points_paid_take_the_python_path(program, shop):
    member = MemberFactory()
    plain_earn_try_warm()
    with CaptureQueriesContext(connection) as queries:
        earn(shop, member, "10.00", lines=[("sku-1", "coffee", "1", "10.00")])
        earn(shop, member, "10.00", occurred_at=AS_OF - timedelta(days=1))
        earn(shop, member, "10.00", points_paid_amount=Decimal("2.00"))
    assert not any(FUNCTION in q["sql"] for q in queries.captured_queries)
    assert LedgerEntry.objects.filter(member=member).count() == 3


def test_turned_off_every_earn_takes_the_python_path(program, shop):
    member = MemberFactory()
    with override_settings(EARN_PLAIN_FUNCTION=False):
        with CaptureQueriesContext(connection) as queries:
            earn(shop, member, "10.00")
    assert not any(FUNCTION in q["sql"] for q in queries.captured_queries)
    assert Purchase.objects.filter(member=member).count() == 1
