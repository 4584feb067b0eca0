"""A member's own data (GDPR): what each app holds about a member, to export and to erase.

The apps depend one way (members <- rewards <- metrics), yet an export or an erasure has to
reach every app's tables. So each app registers, in its `ready()`, an exporter (a function
from a member to its sections of the export) and an eraser (a function that removes the
member's personal data from its own tables). `member_export` and `members.services.
member_erase` call them all, in app order, without importing the apps above.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from members.models import Member


@dataclass(frozen=True)
class PersonalData:
    """The personal values an erasure removes, as they were before it, and the pseudonym
    that replaces the external id."""

    external_id: str
    email: str
    name: str
    pseudonym: str

    def _replacements(self) -> list[tuple[re.Pattern, str]]:
        # The email first: it may contain the external id or the name. A value is matched
        # as a whole token only, so erasing `ann-1` leaves `ann-10` and `A-100` alone.
        return [
            (re.compile(rf"(?<![\w.@+-]){re.escape(secret)}(?![\w.@+-])"), replacement)
            for secret, replacement in (
                (self.email, ""),
                (self.external_id, self.pseudonym),
                (self.name, ""),
            )
            if secret
        ]

    def scrub(self, value):
        """`value` (a string, or JSON made of dicts, lists and strings) with every
        occurrence of the external id replaced by the pseudonym and of the email and the
        name removed."""
        if isinstance(value, str):
            for pattern, replacement in self._replacements():
                value = pattern.sub(replacement, value)
            return value
        if isinstance(value, dict):
            return {self.scrub(key): self.scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return value

    def found_in(self, value) -> bool:
        return self.scrub(value) != value

    def names_cell(self, cell: str) -> bool:
        """A CSV cell that identifies the member: their external id or email, exactly."""
        return bool(cell) and cell.strip() in {
            value for value in (self.external_id, self.email) if value
        }


Exporter = Callable[[Member], dict]
Eraser = Callable[[Member, PersonalData], None]

_exporters: list[Exporter] = []
_erasers: list[Eraser] = []


def personal_data_register(*, exporter: Exporter | None = None, eraser: Eraser | None = None):
    """Called from an app's `ready()`; registering the same function twice is a no-op."""
    if exporter is not None and exporter not in _exporters:
        _exporters.append(exporter)
    if eraser is not None and eraser not in _erasers:
        _erasers.append(eraser)


def member_export_sections(member: Member) -> dict:
    """Every app's sections of a member's export, merged into one dict."""
    sections: dict = {}
    for exporter in _exporters:
        sections.update(exporter(member))
    return sections


def member_export(member: Member, *, depth: int = 0) -> dict:
    """The member's export, with the exports of the members merged into it (the same
    person, enrolled twice: what stayed with them is still theirs)."""
    sections = member_export_sections(member)
    if depth < 20:
        sections["merged_members"] = [
            member_export(merged, depth=depth + 1)
            for merged in Member.objects.filter(merged_into=member).order_by("pk")
        ]
    return sections


def member_erase_everywhere(member: Member, personal: PersonalData) -> None:
    """Run every app's eraser, inside the caller's transaction."""
    for eraser in _erasers:
        eraser(member, personal)
