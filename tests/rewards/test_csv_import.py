"""CSV import of members and historical purchases: every row checked first, nothing written
when a row is bad, idempotent, and the same points as the API."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from members.models import Member, Shop
from rewards.models import CsvImport, EarnRule, LedgerEntry, MemberTier, PointLot, Purchase, Tier
from rewards.services.imports import csv_import_create, csv_import_run
from tests.conftest import earn

pytestmark = pytest.mark.django_db

MEMBERS = """external_id,email,name,birth_date,enrolled_at
c-1,ann@example.com,Ann,1990-04-01,2025-01-15
c-2,bob@example.com,Bob,,2025-02-01T10:30
c-3,,,,
"""


def run_import(tmp_path, kind: str, text: str, name: str = "file.csv") -> CsvImport:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    csv_import = csv_import_create(kind=kind, file_name=name, run_in_background=False)
    return csv_import_run(
        csv_import=csv_import, open_file=lambda: path.open(encoding="utf-8-sig", newline="")
    )


def test_members_are_imported_through_enrollment(tmp_path, program):
    EarnRule.objects.create(name="Welcome", kind="signup", bonus_points=50)
    result = run_import(tmp_path, "members", MEMBERS)
    assert (result.status, result.rows_total, result.created_count) == ("succeeded", 3, 3)
    ann = Member.objects.get(external_id="c-1")
    assert (ann.email, ann.name, str(ann.birth_date)) == ("ann@example.com", "Ann", "1990-04-01")
    assert ann.enrolled_at == datetime(2025, 1, 15, tzinfo=UTC)
    assert LedgerEntry.objects.filter(member=ann, kind="bonus").get().points == 50


def test_importing_the_same_members_file_twice_changes_nothing(tmp_path, program):
    run_import(tmp_path, "members", MEMBERS)
    members = list(Member.objects.values().order_by("pk"))
    entries = LedgerEntry.objects.count()
    again = run_import(tmp_path, "members", MEMBERS)
    assert (again.status, again.created_count, again.unchanged_count) == ("succeeded", 0, 3)
    assert list(Member.objects.values().order_by("pk")) == members
    assert LedgerEntry.objects.count() == entries


def test_a_file_with_bad_rows_imports_nothing_and_reports_each_row(tmp_path, program):
    text = (
        "external_id,email,name,birth_date\n"
        "ok-1,ok@example.com,Fine,\n"
        ",x@example.com,No id,\n"
        "bad-2,not-an-email,,\n"
        "bad-3,,,31/12/1990\n"
        "ok-1,,Duplicate,\n"
        "short,row\n"
    )
    result = run_import(tmp_path, "members", text)
    assert result.status == "rejected" and result.error_count == 5
    assert [(e["line"], e["field"]) for e in result.errors] == [
        (3, "external_id"),
        (4, "email"),
        (5, "birth_date"),
        (6, "external_id"),
        (7, ""),
    ]
    assert "is not an email address" in result.errors[1]["message"]
    assert "same external id is on line 2" in result.errors[3]["message"]
    assert not Member.objects.exists()


def test_a_file_with_a_wrong_header_is_rejected_before_any_row(tmp_path, program):
    result = run_import(tmp_path, "members", "id,mail\nc-1,a@example.com\n")
    assert result.status == "rejected"
    assert {(e["line"], e["field"]) for e in result.errors} == {
        (1, "external_id"),
        (1, "id"),
        (1, "mail"),
    }


@pytest.fixture
def members_and_shop(tmp_path, program, shop):
    run_import(tmp_path, "members", "external_id\nc-1\nc-2\n", name="members.csv")
    return shop


def purchases_csv(shop: Shop, rows: list[str]) -> str:
    return "shop,order_id,member_external_id,amount,occurred_at,category\n" + "".join(
        f"{shop.name},{row}\n" for row in rows
    )


def test_imported_purchases_earn_what_the_api_would_have_given(tmp_path, members_and_shop):
    shop = members_and_shop
    Tier.objects.create(name="Base", rank=1, threshold=0)
    Tier.objects.create(name="Gold", rank=2, threshold=100, earn_multiplier=Decimal("1.5"))
    EarnRule.objects.create(
        name="Coffee x2", kind="category", multiplier=Decimal(2), targets="coffee"
    )
    now = timezone.now()
    days = [now - timedelta(days=d) for d in (40, 30, 20)]
    rows = [
        f"o-1,c-1,80.00,{days[0].isoformat()},",
        f"o-2,c-1,30.00,{days[1].isoformat()},coffee",
        f"o-3,c-1,10.00,{days[2].isoformat()},",
    ]
    result = run_import(tmp_path, "purchases", purchases_csv(shop, rows))
    assert result.status == "succeeded" and result.created_count == 3

    # The same purchases through the service the API calls, for another member.
    from rewards.services.purchases import LineInput, purchase_record

    for order, (amount, day, category) in enumerate(
        [("80.00", days[0], ""), ("30.00", days[1], "coffee"), ("10.00", days[2], "")]
    ):
        purchase_record(
            shop=shop,
            member_external_id="c-2",
            order_id=f"api-{order}",
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=day,
            lines=[LineInput("", category, Decimal(1), Decimal(amount))] if category else [],
            request_hash=f"api-{order}",
        )

    def outcome(external_id):
        member = Member.objects.get(external_id=external_id)
        lots = list(
            PointLot.objects.filter(member=member)
            .order_by("earned_at")
            .values_list("points", "remaining", "earned_at", "expires_at")
        )
        return (
            member.points_available,
            member.lifetime_earned,
            MemberTier.objects.get(member=member).tier.name,
            lots,
        )

    assert outcome("c-1") == outcome("c-2")
    assert outcome("c-1")[:3] == (80 + 60 + 15, 155, "Gold")


def test_importing_the_same_purchases_twice_changes_nothing(tmp_path, members_and_shop):
    rows = ["o-1,c-1,12.00,2025-06-01,", "o-2,c-2,8.00,2025-06-02,"]
    text = purchases_csv(members_and_shop, rows)
    run_import(tmp_path, "purchases", text)
    entries = list(LedgerEntry.objects.values_list("id", "points"))
    again = run_import(tmp_path, "purchases", text)
    assert (again.status, again.created_count, again.unchanged_count) == ("succeeded", 0, 2)
    assert list(LedgerEntry.objects.values_list("id", "points")) == entries
    assert Purchase.objects.count() == 2


def test_purchase_rows_are_checked_against_members_shops_and_orders(tmp_path, members_and_shop):
    shop = members_and_shop
    earn(shop, Member.objects.get(external_id="c-1"), "5.00", order_id="taken")
    Member.objects.filter(external_id="c-2").update(status="suspended")
    future = (timezone.now() + timedelta(days=2)).date().isoformat()
    text = (
        purchases_csv(
            shop,
            [
                "o-1,nobody,10.00,2025-06-01,",
                "o-2,c-2,10.00,2025-06-01,",
                "taken,c-1,99.00,2025-06-01,",
                f"o-3,c-1,10.00,{future},",
                "o-4,c-1,-3,2025-06-01,",
                "o-5,c-1,1.234,2025-06-01,",
            ],
        )
        + "Elsewhere,o-6,c-1,10.00,2025-06-01,\n"
    )
    result = run_import(tmp_path, "purchases", text)
    assert result.status == "rejected"
    assert [(e["line"], e["field"]) for e in result.errors] == [
        (2, "member_external_id"),
        (3, "member_external_id"),
        (4, "order_id"),
        (5, "occurred_at"),
        (6, "amount"),
        (7, "amount"),
        (8, "shop"),
    ]
    assert Purchase.objects.count() == 1


def test_the_command_imports_and_reports_counts(tmp_path, program, capsys):
    path = tmp_path / "members.csv"
    path.write_text(MEMBERS)
    call_command("import_csv", "members", str(path), "--no-progress")
    assert "3 rows, 3 added, 0 already there" in capsys.readouterr().out
    call_command("import_csv", "members", str(path))
    captured = capsys.readouterr()
    assert "0 added, 3 already there" in captured.out
    assert "Importing" in captured.err  # the progress bar


def test_the_command_lists_the_rows_in_error_and_fails(tmp_path, program, capsys):
    path = tmp_path / "members.csv"
    path.write_text("external_id,email\nc-1,nope\n")
    with pytest.raises(CommandError, match="1 problems in members.csv: nothing was imported"):
        call_command("import_csv", "members", str(path), "--no-progress")
    assert "line 2 email: 'nope' is not an email address." in capsys.readouterr().err
    assert not Member.objects.exists()


def test_a_program_manager_imports_from_the_admin_and_sees_the_report(
    manager_client, program, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("members.csv", MEMBERS.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            "/admin/rewards/csvimport/add/", {"kind": "members", "file": upload}
        )
    assert response.status_code == 302
    csv_import = CsvImport.objects.get()
    assert csv_import.status == "succeeded" and Member.objects.count() == 3
    report = manager_client.get(response.url).content.decode()
    assert "Imported" in report and "3 added" in report and "100%" in report


def test_the_admin_report_of_a_rejected_file_lists_the_rows(manager_client, program, tmp_path):
    csv_import = run_import(tmp_path, "members", "external_id,email\nc-1,nope\n")
    page = manager_client.get(f"/admin/rewards/csvimport/{csv_import.pk}/change/").content.decode()
    assert "nothing was imported" in page and "is not an email address" in page


def test_a_running_import_page_refreshes_itself(manager_client, program):
    csv_import = csv_import_create(kind="members", file_name="x.csv", run_in_background=False)
    page = manager_client.get(f"/admin/rewards/csvimport/{csv_import.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' in page


def test_a_file_that_is_not_utf8_is_refused_at_upload(manager_client, program):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("m.csv", "external_id\nJosé\n".encode("latin-1"))
    page = manager_client.post("/admin/rewards/csvimport/add/", {"kind": "members", "file": upload})
    assert page.status_code == 200 and "is not UTF-8" in page.content.decode()
    assert not CsvImport.objects.exists()


def test_an_import_stopped_at_its_deadline_goes_on_where_it_stopped(tmp_path, program, monkeypatch):
    monkeypatch.setattr("rewards.services.imports.CHUNK_ROWS", 2)
    path = tmp_path / "members.csv"
    path.write_text("external_id\n" + "".join(f"c-{n}\n" for n in range(5)))
    csv_import = csv_import_create(kind="members", file_name="m.csv", run_in_background=False)

    def opener():
        return path.open(encoding="utf-8", newline="")

    paused = csv_import_run(csv_import=csv_import, open_file=opener, deadline=0)
    assert (paused.status, paused.rows_done, Member.objects.count()) == ("applying", 2, 2)
    done = csv_import_run(
        csv_import=CsvImport.objects.get(pk=csv_import.pk), open_file=opener, deadline=None
    )
    assert (done.status, done.rows_done, done.created_count) == ("succeeded", 5, 5)
    assert Member.objects.count() == 5
