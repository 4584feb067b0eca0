"""Merge a member who enrolled twice into the member who stays."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from loyalty_engine.errors import DomainError
from members.models import Member
from rewards.services.merges import member_merge


class Command(BaseCommand):
    help = (
        "Merge member SOURCE into member TARGET (external ids): SOURCE's points, holds, owed "
        "points, purchases, vouchers and tier history move to TARGET; SOURCE's external id "
        "names TARGET from then on. Cannot be undone."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="External id of the member who goes.")
        parser.add_argument("target", help="External id of the member who stays.")
        parser.add_argument("--reason", required=True, help="Why: kept with the merge.")
        parser.add_argument("--staff-user", help="Username of the staff user responsible.")

    def handle(self, *args, source, target, reason, staff_user, **options):
        members = {
            m.external_id: m for m in Member.objects.filter(external_id__in=[source, target])
        }
        for external_id in (source, target):
            if external_id not in members:
                raise CommandError(f"No member has the external id {external_id!r}.")
        user = None
        if staff_user:
            user = get_user_model().objects.filter(username=staff_user).first()
            if user is None:
                raise CommandError(f"No user is called {staff_user!r}.")
        try:
            merge = member_merge(
                source=members[source], target=members[target], reason=reason, staff_user=user
            )
        except (DomainError, ValueError) as error:
            raise CommandError(str(error)) from error
        moved = merge.moved
        self.stdout.write(
            f"Merged {source} into {target}: {moved['points']} points in {moved['lots']} lots "
            f"({moved['pending']} pending), {moved['holds']} holds, {moved['owed']} owed, "
            f"{moved['purchases']} purchases, {moved['vouchers']} vouchers moved."
        )
