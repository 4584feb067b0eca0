"""Seed a demo program for a newcomer: a shop with an API key, an admin user and two years of
member history, written through the same services the API uses.

`make run` runs this after migrate, so it must be safe to run on every start: once the demo
members exist it writes no points again and only prints the login details, with a fresh
API key (a key is shown once, when it is created, so an old one cannot be printed again).
"""

import os
import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import F, Sum
from django.utils import timezone

from members.models import Member, Shop
from members.referral_codes import referral_code_for
from members.services import shop_api_key_create
from rewards.errors import InsufficientPoints
from rewards.models import (
    ActivityType,
    EarnRule,
    Milestone,
    Program,
    Purchase,
    Redemption,
    Refund,
    Reward,
    Tier,
)
from rewards.selectors import program_get
from rewards.services.activities import activity_record
from rewards.services.enrollment import member_enroll
from rewards.services.purchases import LineInput, purchase_record, refund_record
from rewards.services.redemptions import redemption_create
from rewards.services.verification import ledger_problems, member_id_chunks

DEMO_SHOP = "Demo shop"
MEMBER_PREFIX = "demo-"
ADMIN_USERNAME = "admin"
# Where `make run` serves; it passes its HOST and PORT, so the printed URLs are the real ones.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
PROGRESS_EVERY = 50

# A real shop's first two years: longer than the default 12 months of expiry (to the end
# of the month), so the oldest points are already due and `manage.py run_nightly` (run by
# `make run`) expires them.
HISTORY = timedelta(days=730)
# Members keep joining until the last month, so the cohort heat map has about two dozen
# cohorts (more join early, as when a program launches).
ENROLMENT_WINDOW = timedelta(days=700)
# How members come and go: the dashboard's retention, churn and cohorts come from this.
MEAN_ACTIVE_DAYS = 180  # a spell of shopping lasts this long on average
CHURN_SHARE = 0.7  # members whose first spell ends before today
COMEBACK_SHARE = 0.35  # of those, the ones who return after a break
DEMO_ACTIVITY_WINDOW_DAYS = 90
REFUND_SHARE = 0.07
REDEMPTION_SIZES = [100, 200, 250, 500]

FIRST_NAMES = [
    "Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ines", "Jonas",
    "Kofi", "Lena", "Mateo", "Nora", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wen", "Yara", "Zoe",
]  # fmt: skip
LAST_NAMES = [
    "Almeida", "Berger", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ivanova", "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov",
    "Rossi", "Schmidt", "Tanaka", "Varga", "Weber", "Yilmaz",
]  # fmt: skip
PRODUCTS = [
    ("ESP-01", "coffee"), ("BEANS-1KG", "coffee"), ("TEA-GRN", "tea"), ("MUG-STD", "homeware"),
    ("GRINDER", "equipment"), ("KETTLE", "equipment"), ("CAKE-SL", "bakery"),
    ("GIFT-CARD", "gifts"),
]  # fmt: skip


@dataclass(frozen=True)
class PlannedPurchase:
    at: datetime
    order_id: str
    amount: Decimal
    sku: str
    category: str


@dataclass(frozen=True)
class PlannedRefund:
    at: datetime
    order_id: str
    refund_id: str
    amount: Decimal


@dataclass(frozen=True)
class PlannedRedemption:
    at: datetime
    idempotency_key: str
    points: int


@dataclass(frozen=True)
class PlannedActivity:
    at: datetime
    activity_id: str
    type_key: str


PlannedEvent = PlannedPurchase | PlannedRefund | PlannedRedemption | PlannedActivity


@dataclass(frozen=True)
class MemberPlan:
    external_id: str
    name: str
    email: str
    birth_date: date
    enrolled_at: datetime
    events: list[PlannedEvent]


def activity_spells(
    rng: random.Random, *, start: datetime, now: datetime
) -> list[tuple[datetime, datetime]]:
    """When a member shops: one spell from enrollment; a churned member's ends before
    today, and some of them come back for a second spell after a break of 3 to 9 months."""
    first_end = start + timedelta(days=rng.expovariate(1 / MEAN_ACTIVE_DAYS) + 30)
    churns, comes_back = rng.random() < CHURN_SHARE, rng.random() < COMEBACK_SHARE
    break_days, second_days = rng.uniform(90, 270), rng.expovariate(1 / MEAN_ACTIVE_DAYS) + 60
    if not churns or first_end >= now:
        return [(start, now)]
    spells = [(start, first_end)]
    comeback = first_end + timedelta(days=break_days)
    if comes_back and comeback < now - timedelta(days=14):
        spells.append((comeback, min(now, comeback + timedelta(days=second_days))))
    return spells


def purchase_times(rng: random.Random, spells: list[tuple[datetime, datetime]]) -> list[datetime]:
    """About one purchase a month while active, 1 to 18 in all, in order."""
    active = sum((end - begin for begin, end in spells), timedelta())
    count = max(1, min(18, round(active.days / 30 * rng.uniform(0.5, 1.5))))
    return sorted(moment_in(spells, active * rng.random()) for _ in range(count))


def moment_in(spells: list[tuple[datetime, datetime]], offset: timedelta) -> datetime:
    """The moment `offset` into the spells' active time, breaks skipped."""
    for begin, end in spells:
        if offset <= end - begin:
            return begin + offset
        offset -= end - begin
    return spells[-1][1]


def member_plan(rng: random.Random, *, number: int, now: datetime) -> MemberPlan:
    """One member's fake data and history, in chronological order. Every value is drawn
    from `rng` whatever happens later, so the same seed always gives the same plan."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    external_id = f"{MEMBER_PREFIX}{number:05d}"
    enrolled_at = now - HISTORY + ENROLMENT_WINDOW * rng.random() ** 1.4
    birth_date = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))

    events: list[PlannedEvent] = []
    spells = activity_spells(rng, start=enrolled_at, now=now)
    for index, at in enumerate(purchase_times(rng, spells), start=1):
        order_id = f"DEMO-{number:05d}-{index:03d}"
        cents = rng.randint(500, 12_000)
        sku, category = rng.choice(PRODUCTS)
        events.append(PlannedPurchase(at, order_id, Decimal(cents) / 100, sku, category))

        refunds = rng.random() < REFUND_SHARE
        refund_at = at + timedelta(hours=rng.uniform(1, 24 * 14))
        refund_cents = cents if rng.random() < 0.5 else rng.randint(1, cents - 1)
        if refunds and refund_at < now:
            events.append(
                PlannedRefund(refund_at, order_id, f"{order_id}-R1", Decimal(refund_cents) / 100)
            )

    active_span = sum((end - begin for begin, end in spells), timedelta())
    for index in range(1, rng.randint(0, 4) + 1):
        at = moment_in(spells, active_span * rng.uniform(0.2, 1.0))
        key = f"demo-redemption-{number:05d}-{index}"
        events.append(PlannedRedemption(at, key, rng.choice(REDEMPTION_SIZES)))

    events.sort(key=lambda event: event.at)
    return MemberPlan(
        external_id=external_id,
        name=f"{first} {last}",
        email=f"{first}.{last}.{number}@example.com".lower(),
        birth_date=birth_date,
        enrolled_at=enrolled_at,
        events=events,
    )


DEMO_LANGUAGES = ["sv", "da", "en", ""]


def names(en: str, sv: str, da: str, field: str = "name") -> dict[str, str]:
    """A staff-entered text in the three languages (django-modeltranslation columns)."""
    return {field: en, f"{field}_en": en, f"{field}_sv": sv, f"{field}_da": da}


class Command(BaseCommand):
    help = (
        "Seed a demo shop, an admin user and two years of history for a few hundred members, "
        "then print how to log in. Safe to run again: an already seeded database gets no "
        "new points, only a fresh API key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=300, help="Members to seed.")
        parser.add_argument("--seed", type=int, default=42, help="Seed for the fake data.")
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help=f"Give the {ADMIN_USERNAME!r} user a new random password and print it.",
        )
        parser.add_argument(
            "--host",
            default=os.environ.get("HOST") or DEFAULT_HOST,
            help="The host the server listens on, for the printed URLs (env HOST).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT") or DEFAULT_PORT),
            help="The port the server listens on, for the printed URLs (env PORT).",
        )

    def handle(
        self,
        *args,
        members: int,
        seed: int,
        reset_password: bool,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        **options,
    ):
        if members < 1:
            raise CommandError("--members must be at least 1.")
        now = timezone.now()
        program = program_get()
        already_seeded = Member.objects.filter(external_id__startswith=MEMBER_PREFIX).exists()

        key_name = f"demo-{now:%Y%m%dT%H%M%SZ}"
        shop, api_key = shop_api_key_create(shop_name=DEMO_SHOP, key_name=key_name)
        password = self.admin_ensure(reset_password=reset_password)

        if already_seeded:
            self.stdout.write("The demo data is already seeded; no points were written.")
        else:
            self.program_configure(now=now)
            self.members_seed(
                shop=shop,
                count=members,
                rng=random.Random(seed),
                now=now,
                currency=program.currency,
            )
            self.ledger_check()

        self.summary_print(shop)
        self.login_print(
            password=password, api_key=api_key, key_name=key_name, base_url=f"http://{host}:{port}"
        )

    def program_configure(self, *, now: datetime) -> None:
        """Demo tiers, earn rules and milestones, unless staff have configured their own."""
        configured = (Tier, EarnRule, Milestone, Reward)
        if any(model.objects.exists() for model in configured):
            self.stdout.write(
                "The program already has tiers, rules, milestones or rewards; kept them."
            )
            return
        # A coffee shop's customer who has not bought in three months has lapsed; with the
        # default year-long window the demo's churn would hardly show.
        Program.objects.filter(pk=program_get().pk).update(
            activity_window_days=DEMO_ACTIVITY_WINDOW_DAYS
        )
        Tier.objects.bulk_create(
            [
                Tier(
                    **names("Bronze", "Brons", "Bronze"),
                    rank=1,
                    threshold=0,
                    **names("Members' prices", "Medlemspriser", "Medlemspriser", "benefits"),
                ),
                Tier(
                    **names("Silver", "Silver", "Sølv"),
                    rank=2,
                    threshold=300,
                    earn_multiplier=Decimal("1.25"),
                    **names(
                        "Members' prices\nFree delivery",
                        "Medlemspriser\nFri frakt",
                        "Medlemspriser\nGratis levering",
                        "benefits",
                    ),
                ),
                Tier(
                    **names("Gold", "Guld", "Guld"),
                    rank=3,
                    threshold=800,
                    earn_multiplier=Decimal("1.5"),
                    **names(
                        "Members' prices\nFree delivery\nEarly access to sales",
                        "Medlemspriser\nFri frakt\nFörst till rean",
                        "Medlemspriser\nGratis levering\nFørst til udsalget",
                        "benefits",
                    ),
                ),
            ]
        )
        Kind = EarnRule.Kind
        EarnRule.objects.bulk_create(
            [
                EarnRule(
                    **names(
                        "Double points on coffee", "Dubbla poäng på kaffe", "Dobbelt point på kaffe"
                    ),
                    kind=Kind.CATEGORY_MULTIPLIER,
                    multiplier=Decimal(2),
                    targets="coffee",
                    cap_per_day=100,
                ),
                EarnRule(
                    **names("Big basket bonus", "Bonus för stor korg", "Bonus for stor kurv"),
                    kind=Kind.MIN_SPEND_BONUS,
                    bonus_points=25,
                    min_amount=Decimal(60),
                ),
                EarnRule(
                    **names("Welcome bonus", "Välkomstbonus", "Velkomstbonus"),
                    kind=Kind.SIGNUP_BONUS,
                    bonus_points=50,
                ),
                EarnRule(
                    **names("First purchase", "Första köpet", "Første køb"),
                    kind=Kind.FIRST_PURCHASE_BONUS,
                    bonus_points=20,
                ),
                EarnRule(
                    **names("Birthday treat", "Födelsedagsgodis", "Fødselsdagsforkælelse"),
                    kind=Kind.BIRTHDAY_BONUS,
                    bonus_points=100,
                ),
            ]
        )
        coffee = Reward.objects.create(
            **names("Free coffee", "Gratis kaffe", "Gratis kaffe"),
            **names(
                "Any coffee from the bar.",
                "Valfritt kaffe från baren.",
                "En valgfri kaffe fra baren.",
                "description",
            ),
            points_cost=150,
            voucher_valid_days=30,
        )
        Reward.objects.create(
            **names("Travel mug", "Resemugg", "Termokrus"),
            **names("Our steel mug.", "Vår mugg i stål.", "Vores krus i stål.", "description"),
            points_cost=400,
            stock=50,
        )
        Reward.objects.create(
            **names("Coffee tasting", "Kaffeprovning", "Kaffesmagning"),
            **names(
                "An evening of tasting with our roaster.",
                "En kväll med provning tillsammans med vår rostare.",
                "En aften med smagning sammen med vores rister.",
                "description",
            ),
            points_cost=900,
            stock=12,
            per_member_limit=1,
        ).tiers.set(Tier.objects.filter(name="Gold"))
        Milestone.objects.bulk_create(
            [
                Milestone(
                    **names("Tenth purchase", "Tionde köpet", "Tiende køb"),
                    kind=Milestone.Kind.PURCHASE_COUNT,
                    target=10,
                    bonus_points=100,
                    reward=coffee,
                ),
                Milestone(
                    **names("Big spender of the year", "Årets storkund", "Årets storkunde"),
                    kind=Milestone.Kind.SPEND,
                    target=500,
                    period=Milestone.Period.YEAR,
                    bonus_points=150,
                ),
            ]
        )
        # Gift cards are money, not a sale: buying one earns nothing (issue 17).
        program = program_get()
        if not program.excluded_skus:
            program.excluded_skus = "GIFT-CARD"
            program.save(update_fields=["excluded_skus"])
        # Referrals: both members get a bonus once the friend's first purchase is available
        # (the nightly `referrals` job, which `make run` runs after seeding).
        Program.objects.filter(pk=1).update(
            referral_share_url="https://shop.example/join?ref={code}",
            referral_referrer_points=200,
            referral_referred_points=100,
            referral_cap_per_year=5,
        )
        ActivityType.objects.bulk_create(
            [
                ActivityType(
                    key="product_review", name="Product review", points=25, cap_per_month=2
                ),
                ActivityType(
                    key="newsletter_signup", name="Newsletter sign-up", points=50, cap_total=1
                ),
            ]
        )
        self.stdout.write(
            "Configured demo tiers, earn rules, rewards, milestones, referrals and activities;"
            " gift cards earn no points."
        )

    def admin_ensure(self, *, reset_password: bool) -> str | None:
        """The new password of the admin user, or None when it was left unchanged."""
        User = get_user_model()
        user = User.objects.filter(username=ADMIN_USERNAME).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(
                username=ADMIN_USERNAME, email="admin@example.com", password=password
            )
            return password
        if not (user.is_staff and user.is_superuser):
            self.stderr.write(
                self.style.WARNING(
                    f"The user {ADMIN_USERNAME!r} exists but is not a staff superuser; "
                    "it was left as it is."
                )
            )
        if not reset_password:
            return None
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save(update_fields=["password"])
        return password

    def members_seed(
        self, *, shop: Shop, count: int, rng: random.Random, now: datetime, currency: str
    ) -> None:
        activity_types = set(ActivityType.objects.values_list("key", flat=True))
        previous = None
        for number in range(1, count + 1):
            plan = member_plan(rng, number=number, now=now)
            # Every fifth member was referred by the one before (no draw from `rng`, so the
            # plans of a seed stay what they were).
            referrer = previous if number % 5 == 0 else None
            member = member_enroll(
                external_id=plan.external_id,
                email=plan.email,
                name=plan.name,
                # Mixed languages, and some members on the program's default.
                language=DEMO_LANGUAGES[number % len(DEMO_LANGUAGES)],
                birth_date=plan.birth_date,
                enrolled_at=plan.enrolled_at,
                shop=shop,
                referred_by=referral_code_for(referrer.pk) if referrer else "",
            )
            previous = member
            events = [*plan.events, *self.activities_plan(plan, number, activity_types, now)]
            events.sort(key=lambda event: event.at)
            for event in events:
                self.event_write(event, shop=shop, member=member, currency=currency)
            if number % PROGRESS_EVERY == 0 or number == count:
                self.stdout.write(f"Seeded {number}/{count} members")

    def event_write(
        self, event: PlannedEvent, *, shop: Shop, member: Member, currency: str
    ) -> None:
        if isinstance(event, PlannedPurchase):
            # as_of is the purchase time, so its points are judged pending or not against
            # that moment in the past rather than against today.
            purchase_record(
                shop=shop,
                member_external_id=member.external_id,
                order_id=event.order_id,
                amount=event.amount,
                currency=currency,
                occurred_at=event.at,
                lines=[LineInput(event.sku, event.category, Decimal(1), event.amount)],
                request_hash=f"seed:{event.order_id}",
                as_of=event.at,
            )
        elif isinstance(event, PlannedActivity):
            activity_record(
                shop=shop,
                member_external_id=member.external_id,
                activity_id=event.activity_id,
                type_key=event.type_key,
                occurred_at=event.at,
                request_hash=f"seed:{event.activity_id}",
                as_of=event.at,
            )
        elif isinstance(event, PlannedRefund):
            refund_record(
                shop=shop,
                order_id=event.order_id,
                refund_id=event.refund_id,
                amount=event.amount,
                request_hash=f"seed:{event.refund_id}",
                as_of=event.at,
            )
        else:
            member.refresh_from_db(fields=["points_available"])
            if member.points_available < event.points:
                return
            try:
                redemption_create(
                    shop=shop,
                    member_external_id=member.external_id,
                    points=event.points,
                    idempotency_key=event.idempotency_key,
                    request_hash=f"seed:{event.idempotency_key}",
                    as_of=event.at,
                )
            except InsufficientPoints:
                # The cached balance is as of the last write; catching up to this moment
                # (expiry, owed points) can leave less. A shop would be refused too.
                return

    @staticmethod
    def activities_plan(plan, number: int, activity_types: set[str], now: datetime) -> list:
        """A newsletter sign-up for every third member on the day they joined, and a
        product review for every second one, half way through their history."""
        activities = []
        if "newsletter_signup" in activity_types and number % 3 == 0:
            activities.append(
                PlannedActivity(
                    plan.enrolled_at + timedelta(minutes=5),
                    f"DEMO-{number:05d}-newsletter",
                    "newsletter_signup",
                )
            )
        if "product_review" in activity_types and number % 2 == 0:
            middle = plan.enrolled_at + (now - plan.enrolled_at) / 2
            activities.append(
                PlannedActivity(middle, f"DEMO-{number:05d}-review", "product_review")
            )
        return activities

    def ledger_check(self) -> None:
        checked = drifting = 0
        for ids in member_id_chunks():
            checked += len(ids)
            drifting += len(ledger_problems(ids))
        if drifting:
            raise CommandError(
                f"{drifting} of {checked} members do not reconcile after seeding; "
                "run `manage.py verify_ledger` to see why."
            )

    def summary_print(self, shop: Shop) -> None:
        demo_members = Member.objects.filter(external_id__startswith=MEMBER_PREFIX)
        outstanding = demo_members.aggregate(
            points=Sum(F("points_available") + F("points_pending"))
        )["points"]
        self.stdout.write(
            f"{demo_members.count()} members, "
            f"{Purchase.objects.filter(shop=shop).count()} purchases, "
            f"{Refund.objects.filter(shop=shop).count()} refunds, "
            f"{Redemption.objects.filter(shop=shop).count()} redemptions, "
            f"{outstanding or 0} points outstanding (available + pending)."
        )

    def login_print(
        self, *, password: str | None, api_key: str, key_name: str, base_url: str
    ) -> None:
        if password is None:
            password = "(unchanged; run `manage.py seed_demo --reset-password` for a new one)"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    self.style.SUCCESS("The demo program is ready."),
                    f"  Admin:     {base_url}/admin/",
                    f"  Username:  {ADMIN_USERNAME}",
                    f"  Password:  {password}",
                    f"  API key:   {api_key}",
                    f"             (shop {DEMO_SHOP!r}, key {key_name!r}; a key is shown only "
                    "when it is created, so every run of seed_demo creates and prints a fresh "
                    "one)",
                    f"  API docs:  {base_url}/api/docs/",
                    f"  Try it:    curl -H 'Authorization: Api-Key {api_key}' "
                    f"{base_url}/api/v1/members/{MEMBER_PREFIX}00001",
                ]
            )
        )
