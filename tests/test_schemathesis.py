"""schemathesis fuzzes every operation of the OpenAPI document against the live app on
PostgreSQL (issue 13): with a shop key, a member token and a staff token, a bounded number
of examples per operation, and the checks that a client generator relies on. 0 failures."""

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token

pytest.importorskip("schemathesis", reason="a dev dependency: pip install -e '.[dev]'")

import schemathesis  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from members.services import member_token_issue, shop_api_key_create  # noqa: E402
from tests.conftest import earn  # noqa: E402
from tests.factories import MemberFactory  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# 25 examples per operation: valid requests, then requests the schema says are invalid
# (which must be refused with a documented 4xx, never a 500).
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture
def credentials(db, program):
    shop, key = shop_api_key_create(shop_name="Fuzz shop")
    member = MemberFactory(external_id="fuzz-member")
    earn(shop, member, "500.00", order_id="fuzz-order")
    token, _ = member_token_issue(member=member)
    staff = User.objects.create_user("fuzz-staff", password="x-fuzz-pass!", is_staff=True)
    return {
        "ShopApiKey": f"Api-Key {key}",
        "MemberToken": f"Bearer {token}",
        "tokenAuth": f"Token {Token.objects.create(user=staff).key}",
    }


def authorization(operation, credentials: dict) -> str | None:
    for requirement in operation.definition.raw.get("security", []):
        for scheme in requirement:
            if scheme in credentials:
                return credentials[scheme]
    return None


def test_every_operation_holds_to_its_schema_under_fuzzing(live_server, credentials):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        header = authorization(operation, credentials)
        headers = {"Authorization": header} if header else {}

        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case):
                # Called at once, in this iteration: `headers` is this operation's.
                case.call_and_validate(
                    base_url=live_server.url,
                    headers=headers,  # noqa: B023
                    checks=CHECKS,
                )

            try:
                fuzz()
            except Unsatisfiable:
                # Nothing the schema allows can be made invalid (no parameters, or only
                # a path segment that any string fits): no negative cases to send.
                assert mode == GenerationMode.NEGATIVE, operation.path
            except Exception as error:  # one report for all operations, not the first only
                name = f"{operation.method.upper()} {operation.path} ({mode})"
                failures.append(f"{name}: {error}"[:3000])
    assert operations >= 25
    assert not failures, "\n\n".join(failures)
