import itertools
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from rest_framework.test import APIClient

from loyalty_engine import i18n
from members.services import member_token_issue, shop_api_key_create
from rewards.selectors import program_get
from rewards.services.purchases import LineInput, purchase_record
from tests.factories import MemberFactory

_orders = itertools.count(1)


def _cache_clear() -> None:
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # Only this deployment's keys: the Redis database may hold a broker's queues too.
        client = backend._cache.get_client(write=True)
        keys = list(client.scan_iter(f"{backend.key_prefix}:*")) if backend.key_prefix else []
        if keys:
            client.delete(*keys)
    else:
        backend.clear()


@pytest.fixture(autouse=True)
def _cache_cleared():
    """Throttle counts live in the cache, which tests share: each test starts from none.
    Likewise the process's copy of the program for the plain earn (each test's program
    row is its own) and what the earn function said about it."""
    from rewards.services import plain_earn

    _cache_clear()
    plain_earn.program_copy_forget()
    yield
    _cache_clear()


def pytest_sessionstart(session):
    """Compile the translations (`make install` does it too; it takes milliseconds), so a
    test run after editing a translation reads the edit."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in Path(settings.BASE_DIR, "locale").glob("*/LC_MESSAGES/django.po"):
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        # Written aside, then renamed: another test run in this checkout may be reading it.
        partial = po.with_suffix(f".mo.{os.getpid()}")
        with partial.open("wb") as target:
            write_mo(target, catalog)
        os.replace(partial, po.with_suffix(".mo"))
    # Catalogs read before this (Django's setup) would hide the edit: Python's gettext keeps
    # each .mo it parsed by path, Django each language's merged catalog.
    import gettext

    from django.utils.translation import trans_real

    gettext._translations.clear()
    trans_real._translations = {}
    trans_real._default = None


@pytest.fixture(autouse=True, scope="session")
def program_language_never_stale():
    """In tests the program's default language changes only through Program.save (which
    sets it), never by the clock: a request's query count stays the same however long the
    run."""
    ttl = i18n.PROGRAM_LANGUAGE_TTL
    i18n.PROGRAM_LANGUAGE_TTL = float("inf")
    i18n.program_language_set("en")
    yield
    i18n.PROGRAM_LANGUAGE_TTL = ttl


@pytest.fixture(autouse=True)
def program_language_known():
    """Each test starts with the program's default language known to the process (as a
    saved program sets it), so a request's query count does not depend on test order."""
    i18n.program_language_set("en")
    yield
    translation.activate("en")


@pytest.fixture
def program(db):
    return program_get()


@pytest.fixture
def shop_and_key(db):
    return shop_api_key_create(shop_name="Test shop")


@pytest.fixture
def shop(shop_and_key):
    return shop_and_key[0]


@pytest.fixture
def shop_client(shop_and_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {shop_and_key[1]}")
    return client


@pytest.fixture
def member(db, program):
    return MemberFactory()


def other_connection():
    """A second PostgreSQL connection to the test database, in autocommit: it sees only
    what Django's connection has committed."""
    import psycopg
    from django.db import connection

    settings_dict = connection.settings_dict
    return psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
        autocommit=True,
    )


def backend_terminate(pid: int) -> None:
    """PostgreSQL closes the connection of backend `pid` from the other side (a second
    connection, pg_terminate_backend), as a restart or an idle timeout would."""
    with other_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def member_client_for(member) -> APIClient:
    token, _ = member_token_issue(member=member)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def member_client(member):
    return member_client_for(member)


def earn(shop, member, amount, *, order_id=None, lines=(), **kwargs):
    """Record a purchase through the service (no HTTP) and return the stored response.
    `lines` are (sku, category, quantity, unit_price) tuples."""
    order_id = order_id or f"order-{next(_orders)}"
    return purchase_record(
        shop=shop,
        member_external_id=member.external_id,
        order_id=order_id,
        amount=Decimal(amount),
        currency=kwargs.pop("currency", "EUR"),
        occurred_at=kwargs.pop("occurred_at", None),
        lines=[
            LineInput(sku=sku, category=category, quantity=Decimal(qty), unit_price=Decimal(price))
            for sku, category, qty, price in lines
        ],
        request_hash=f"hash-{order_id}",
        **kwargs,
    ).response


# Staff in the admin: users in the groups the staff_groups migration creates.


def staff_groups_ensure() -> None:
    """The two staff groups, as their data migration makes them. A transactional test
    (live server, real workers) empties the database when it ends, groups included."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group

    if Group.objects.filter(name__in=["Program manager", "Support"]).count() < 2:
        # Every migration that makes or widens the groups, in order.
        importlib.import_module("metrics.migrations.0002_staff_groups").groups_create(apps, None)
        for later in ("0003_staff_groups_activities_referrals_merges", "0004_predictions"):
            importlib.import_module(f"metrics.migrations.{later}").grants_add(apps, None)


def staff_user_in(group: str | None, username: str | None = None, *, superuser: bool = False):
    from django.contrib.auth.models import Group, User

    staff_groups_ensure()
    user = User.objects.create(
        username=username or (group or "admin").lower().replace(" ", "-"),
        is_staff=True,
        is_superuser=superuser,
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def client_for(user):
    from django.test import Client

    client = Client()
    # No password: hashing one per test would cost seconds.
    client.force_login(user)
    return client


@pytest.fixture
def program_manager(db):
    return staff_user_in("Program manager")


@pytest.fixture
def support_agent(db):
    return staff_user_in("Support")


@pytest.fixture
def manager_client(program_manager):
    return client_for(program_manager)


@pytest.fixture
def support_client(support_agent):
    return client_for(support_agent)


@pytest.fixture
def browser():
    """A headless Chromium (tests/browser.py); skipped, or failed in CI, without one."""
    from tests.browser import chromium

    with chromium() as driver:
        yield driver
