"""Survey answers for the demo members that `seed_demo` wrote: some answer NPS after a
purchase, some rate it (CSAT), as in a real shop, so the dashboard's NPS and CSAT have
data on first open. It lives in metrics, where feedback lives (rewards cannot import it).

Safe to run again: every answer has a feedback_id, so a second run replays them.
"""

import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from metrics.models import Feedback
from metrics.services import feedback_record
from rewards.models import Purchase

MEMBER_PREFIX = "demo-"  # rewards/management/commands/seed_demo.py
NPS_SHARE = 0.35  # members who answer the NPS survey
CSAT_SHARE = 0.3  # purchases rated, of members who rate at all
CSAT_MEMBER_SHARE = 0.4
# A shop people mostly like: many promoters, some detractors (NPS about +25).
NPS_WEIGHTS = [1, 1, 1, 2, 2, 3, 5, 10, 14, 18, 14]  # scores 0..10
CSAT_WEIGHTS = [4, 6, 15, 40, 35]  # scores 1..5


class Command(BaseCommand):
    help = "Seed NPS and CSAT answers for the demo members. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="Seed for the fake data.")

    def handle(self, *args, seed: int, **options):
        rng = random.Random(seed)
        now = timezone.now()
        purchases: dict[int, list[Purchase]] = {}
        demo = Purchase.objects.filter(member__external_id__startswith=MEMBER_PREFIX)
        for purchase in demo.select_related("member", "shop").order_by("member_id", "occurred_at"):
            purchases.setdefault(purchase.member_id, []).append(purchase)

        before = Feedback.objects.count()
        for member_purchases in purchases.values():
            if rng.random() < NPS_SHARE:
                purchase = rng.choice(member_purchases)
                self.answer(purchase, "nps", rng.choices(range(11), NPS_WEIGHTS)[0], rng, now)
            rates = rng.random() < CSAT_MEMBER_SHARE
            for purchase in member_purchases:
                if rates and rng.random() < CSAT_SHARE:
                    score = rng.choices(range(1, 6), CSAT_WEIGHTS)[0]
                    self.answer(purchase, "csat", score, rng, now)
        self.stdout.write(f"Seeded {Feedback.objects.count() - before} survey answers.")

    def answer(self, purchase: Purchase, kind: str, score: int, rng, now) -> None:
        answered_at = min(now, purchase.occurred_at + timedelta(hours=rng.uniform(1, 72)))
        feedback_record(
            shop=purchase.shop,
            member_external_id=purchase.member.external_id,
            kind=kind,
            score=score,
            comment="",
            answered_at=answered_at,
            feedback_id=f"demo-{kind}-{purchase.order_id}",
            request_hash=f"seed:{kind}:{purchase.order_id}:{score}",
        )
