"""CSV exports, streamed: rows are written as the database hands them over, a chunk at a
time, so an export of every member or of the whole ledger runs in constant memory."""

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from members.models import Member
from rewards.ledger_words import entry_description
from rewards.models import LedgerEntry

CHUNK_ROWS = 2000

MEMBER_COLUMNS = (
    "external_id",
    "email",
    "name",
    "birth_date",
    "status",
    "enrolled_at",
    "tier",
    "points_available",
    "points_pending",
    "points_held",
    "points_owed",
    "lifetime_earned",
)

LEDGER_COLUMNS = (
    "id",
    "member_external_id",
    "kind",
    "points",
    "held_change",
    "owed_change",
    "reason",
    "description",
    "reference",
    "actor",
    "effective_at",
    "created_at",
)


class _Echo:
    """A file-like object that hands back what is written to it, for csv.writer."""

    def write(self, value: str) -> str:
        return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """Text as a spreadsheet shows it, never runs it: a leading ' stops a cell such as
    =HYPERLINK(...) from being taken for a formula (CSV injection)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _moment(value) -> str:
    return value.isoformat() if value else ""


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def member_export_rows(members: QuerySet[Member]) -> Iterator[tuple]:
    members = members.select_related("tier_state__tier").order_by("pk")
    for member in members.iterator(chunk_size=CHUNK_ROWS):
        state = getattr(member, "tier_state", None)
        yield (
            _text(member.external_id),
            _text(member.email),
            _text(member.name),
            member.birth_date.isoformat() if member.birth_date else "",
            member.status,
            _moment(member.enrolled_at),
            _text(state.tier.name) if state and state.tier else "",
            member.points_available,
            member.points_pending,
            member.points_held,
            member.points_owed,
            member.lifetime_earned,
        )


def ledger_export_rows(entries: QuerySet[LedgerEntry]) -> Iterator[tuple]:
    entries = entries.select_related("member", "actor_shop", "actor_user").order_by("pk")
    for entry in entries.iterator(chunk_size=CHUNK_ROWS):
        if entry.actor_shop_id:
            actor = f"shop:{entry.actor_shop.name}"
        elif entry.actor_user_id:
            actor = f"staff:{entry.actor_user.get_username()}"
        else:
            actor = entry.actor_kind
        yield (
            entry.pk,
            _text(entry.member.external_id),
            entry.kind,
            entry.points,
            entry.held_change,
            entry.owed_change,
            _text(entry.reason),
            _text(entry_description(entry)),
            _text(entry.reference),
            _text(actor),
            _moment(entry.effective_at),
            _moment(entry.created_at),
        )


def csv_response(name: str, header: Iterable[str], rows: Iterable[Iterable]):
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


def members_csv_response(members: QuerySet[Member]):
    return csv_response("members", MEMBER_COLUMNS, member_export_rows(members))


def ledger_csv_response(entries: QuerySet[LedgerEntry]):
    return csv_response("ledger", LEDGER_COLUMNS, ledger_export_rows(entries))
