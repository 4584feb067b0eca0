"""The OpenAPI document is what shops generate their clients from: every operation must be
in it, with request and response bodies that name the real fields."""

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS

pytestmark = pytest.mark.django_db

OPERATIONS = [
    ("post", "/api/v1/members"),
    ("get", "/api/v1/members/{external_id}"),
    ("post", "/api/v1/members/{external_id}/token"),
    ("post", "/api/v1/members/{external_id}/language"),
    ("post", "/api/v1/purchases"),
    ("post", "/api/v1/purchases/{order_id}/refunds"),
    ("post", "/api/v1/redemptions"),
    ("post", "/api/v1/redemptions/{redemption_id}/capture"),
    ("post", "/api/v1/redemptions/{redemption_id}/void"),
    ("post", "/api/v1/redemptions/{redemption_id}/cancel"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/me/balance"),
    ("get", "/api/v1/me/transactions"),
    ("get", "/api/v1/vouchers/{code}"),
    ("post", "/api/v1/vouchers/{code}/use"),
    ("get", "/api/v1/me/rewards"),
    ("get", "/api/v1/me/vouchers"),
    ("post", "/api/v1/feedback"),
    ("get", "/api/v1/metrics/kpis"),
    ("get", "/api/v1/metrics/kpis.csv"),
    ("get", "/api/v1/metrics/cohorts"),
    ("get", "/api/v1/metrics/members/{external_id}"),
    ("post", "/api/v1/activities"),
    ("get", "/api/v1/me/export"),
    ("get", "/api/v1/me/referral"),
    ("get", "/api/v1/metrics/referrals"),
]


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        node = schema["components"]["schemas"][name]
    return node


def json_body_schema(schema: dict, content: dict) -> dict:
    return resolve(schema, content["content"]["application/json"]["schema"])


def test_schema_is_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]
    assert schema["info"]["version"]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_is_documented(schema, method, path):
    assert path in schema["paths"], sorted(schema["paths"])
    assert method in schema["paths"][path]


def test_every_operation_has_a_unique_operation_id(schema):
    ids = [
        operation.get("operationId")
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
    ]
    assert all(ids), ids
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize(
    ("path", "fields", "required"),
    [
        (
            "/api/v1/purchases",
            {
                "member",
                "order_id",
                "amount",
                "currency",
                "occurred_at",
                "lines",
                "redemption_id",
                "points_paid_amount",
            },
            {"member", "order_id", "amount", "currency"},
        ),
        (
            "/api/v1/redemptions",
            # points or reward_id, exactly one: the serializer checks, the schema can't say.
            {"member", "points", "reward_id", "order_id", "hold", "order_total"},
            {"member"},
        ),
        (
            "/api/v1/members",
            {"external_id", "email", "name", "birth_date", "language", "referred_by"},
            {"external_id"},
        ),
        (
            "/api/v1/activities",
            {"member", "activity_id", "type", "occurred_at"},
            {"member", "activity_id", "type"},
        ),
        (
            "/api/v1/purchases/{order_id}/refunds",
            {"refund_id", "amount"},
            {"refund_id", "amount"},
        ),
    ],
)
def test_request_body_names_the_input_fields(schema, path, fields, required):
    body = json_body_schema(schema, schema["paths"][path]["post"]["requestBody"])
    assert set(body["properties"]) == fields
    assert set(body.get("required", [])) == required


def test_purchase_lines_name_their_fields(schema):
    body = json_body_schema(schema, schema["paths"]["/api/v1/purchases"]["post"]["requestBody"])
    line = resolve(schema, body["properties"]["lines"]["items"])
    assert set(line["properties"]) == {"sku", "category", "quantity", "unit_price"}


@pytest.mark.parametrize(
    ("method", "path", "status", "fields"),
    [
        (
            "post",
            "/api/v1/purchases",
            "201",
            {"order_id", "points_earned", "points_pending", "balance"},
        ),
        (
            "post",
            "/api/v1/purchases/{order_id}/refunds",
            "201",
            {"refund_id", "order_id", "amount", "points_reversed", "points_owed", "balance"},
        ),
        ("post", "/api/v1/members/{external_id}/token", "201", {"token", "expires_at"}),
        ("post", "/api/v1/redemptions", "201", {"redemption_id", "status", "points", "balance"}),
        ("post", "/api/v1/members", "201", {"external_id", "status", "balance"}),
        ("get", "/api/v1/me/balance", "200", {"available", "pending", "held", "expiring"}),
        (
            "get",
            "/api/v1/vouchers/{code}",
            "200",
            {"code", "status", "reward", "member", "issued_at", "expires_at", "used_at", "used_by"},
        ),
        ("post", "/api/v1/vouchers/{code}/use", "200", {"code", "status", "used_at", "used_by"}),
        ("get", "/api/v1/me/rewards", "200", {"points_available", "rewards"}),
        ("post", "/api/v1/feedback", "201", {"id", "member", "kind", "score", "answered_at"}),
    ],
)
def test_response_body_names_the_output_fields(schema, method, path, status, fields):
    body = json_body_schema(schema, schema["paths"][path][method]["responses"][status])
    assert fields <= set(body["properties"]), sorted(body["properties"])


def test_transactions_response_is_a_cursor_page(schema):
    # The view paginates with a cursor: {"next", "previous", "results": [...]}.
    responses = schema["paths"]["/api/v1/me/transactions"]["get"]["responses"]
    page = json_body_schema(schema, responses["200"])
    assert {"next", "previous", "results"} <= set(page.get("properties", {})), page
    entry = resolve(schema, page["properties"]["results"]["items"])
    assert {"id", "kind", "points", "description", "occurred_at"} <= set(entry["properties"])


def test_redemption_response_documents_the_optional_voucher(schema):
    responses = schema["paths"]["/api/v1/redemptions"]["post"]["responses"]
    body = json_body_schema(schema, responses["201"])
    assert "voucher" not in body.get("required", [])
    # A described $ref is wrapped in allOf.
    voucher = resolve(schema, body["properties"]["voucher"]["allOf"][0])
    assert {"code", "status", "reward", "expires_at"} <= set(voucher["properties"])


def test_catalog_items_name_their_fields(schema):
    responses = schema["paths"]["/api/v1/me/rewards"]["get"]["responses"]
    body = json_body_schema(schema, responses["200"])
    item = resolve(schema, body["properties"]["rewards"]["items"])
    assert {
        "id",
        "name",
        "points_cost",
        "stock",
        "affordable",
        "available",
        "unavailable_reason",
    } <= set(item["properties"])


def test_vouchers_response_is_a_cursor_page(schema):
    responses = schema["paths"]["/api/v1/me/vouchers"]["get"]["responses"]
    page = json_body_schema(schema, responses["200"])
    assert {"next", "previous", "results"} <= set(page.get("properties", {})), page
    voucher = resolve(schema, page["properties"]["results"]["items"])
    assert {"code", "status", "reward", "expires_at"} <= set(voucher["properties"])


def test_redemption_documents_the_idempotency_key_header(schema):
    parameters = schema["paths"]["/api/v1/redemptions"]["post"].get("parameters", [])
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert header["required"] is True
    assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 128)
    assert header["schema"]["pattern"] == r"^[^/\x00-\x1f\x7f]+$"
    assert "idempotency_key_required" in header["description"]


def test_the_error_component_says_a_malformed_idempotency_key_has_the_required_code(schema):
    code = schema["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    (line,) = [
        line for line in code["description"].splitlines() if "`idempotency_key_required`" in line
    ]
    assert line.startswith("- `idempotency_key_required` (400): ")
    assert "malformed" in line and "`fields` names the header" in line


def is_member_path(path: str) -> bool:
    return path == "/api/v1/me" or path.startswith("/api/v1/me/")


def is_staff_path(path: str) -> bool:
    return path.startswith("/api/v1/metrics/")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_requires_its_callers_credentials(schema, method, path):
    # A generated client attaches credentials from these: Api-Key for shops, Bearer for
    # members, and no operation is open to anonymous callers.
    schemes = schema["components"]["securitySchemes"]
    requirements = schema["paths"][path][method]["security"]
    assert requirements and {} not in requirements, requirements
    for requirement in requirements:
        for name in requirement:
            scheme = schemes[name]
            if is_member_path(path):
                assert (scheme["type"], scheme["scheme"].lower()) == ("http", "bearer")
            elif is_staff_path(path):
                # Staff: `Token <key>` in the Authorization header, or the admin's session.
                assert (scheme["type"], scheme["in"], scheme["name"]) in {
                    ("apiKey", "header", "Authorization"),
                    ("apiKey", "cookie", "sessionid"),
                }
            else:
                assert (scheme["type"], scheme["in"], scheme["name"]) == (
                    "apiKey",
                    "header",
                    "Authorization",
                )


def test_schema_generates_without_warnings(tmp_path):
    # The counter is process-wide; start from zero so only this generation is judged.
    GENERATOR_STATS.reset()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )


def test_docs_page_is_html(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()


def test_kpis_response_lists_snapshots_with_every_field(schema):
    operation = schema["paths"]["/api/v1/metrics/kpis"]["get"]
    page = resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"next", "previous", "results"} <= set(page["properties"])
    snapshot = resolve(schema, page["properties"]["results"]["items"])
    assert {
        "period_start",
        "period_end",
        "granularity",
        "retention_rate",
        "churn_rate",
        "points_liability",
        "tier_distribution",
        "nps",
        "csat",
    } <= set(snapshot["properties"])
    assert {"granularity", "from", "to", "tier", "shop", "segment"} <= {
        p["name"] for p in operation["parameters"]
    }
    # Every figure carries its definition.
    assert "(E − N) ÷ S" in snapshot["properties"]["retention_rate"]["description"]
    # A segment's snapshots name it, as a tier's name the tier.
    assert {"tier", "shop", "segment", "segment_id"} <= set(snapshot["properties"])
    breakdown = resolve(schema, snapshot["properties"]["breakdown"])
    assert set(breakdown["enum"]) == {"all", "tier", "shop", "segment"}


def test_segment_conditions_document_the_fields_and_the_language_codes(schema):
    body = schema["paths"]["/api/v1/segments"]["post"]["requestBody"]
    conditions = json_body_schema(schema, body)["properties"]["conditions"]
    assert "language" in conditions["description"] and "en, sv, da" in conditions["description"]


def test_kpis_csv_is_documented_as_csv(schema):
    responses = schema["paths"]["/api/v1/metrics/kpis.csv"]["get"]["responses"]
    assert "text/csv" in responses["200"]["content"]


# --- issue 13: errors, descriptions, operationIds, patterns --------------------------------


def test_one_error_component_lists_the_stable_codes(schema):
    error = schema["components"]["schemas"]["Error"]["properties"]["error"]
    codes = set(error["properties"]["code"]["enum"])
    assert {
        "validation_error",
        "not_authenticated",
        "member_not_found",
        "member_exists",
        "idempotency_conflict",
        "insufficient_points",
        "voucher_already_used",
        "unsupported_media_type",
    } <= codes
    assert set(error["required"]) == {"code", "message", "fields"}


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_documents_its_errors_through_the_error_component(schema, method, path):
    operation = schema["paths"][path][method]
    responses = operation["responses"]
    expected = {"503"}
    if "requestBody" in operation or operation.get("parameters") or "{" in path:
        expected.add("400")
    if operation.get("security") not in (None, [{}]):
        expected |= {"401", "403", "429"}
    if "{" in path:
        expected.add("404")
    if method == "post":
        expected |= {"404", "409", "415", "422"}
    assert expected <= set(responses), (path, sorted(responses))
    for status in expected:
        content = responses[status]["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/Error"}


def test_operation_ids_are_clean_and_unique(schema):
    ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert operation_id.isidentifier() and "_" not in operation_id, operation_id
    assert schema["paths"]["/api/v1/purchases"]["post"]["operationId"] == "purchaseCreate"


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_has_a_summary_and_its_own_description(schema, method, path):
    operation = schema["paths"][path][method]
    assert operation["summary"]
    assert operation["description"]
    assert "Mixin" not in operation["description"]


def test_an_empty_email_is_not_declared_as_an_email(schema):
    member = resolve(schema, {"$ref": "#/components/schemas/MemberOutput"})
    assert "format" not in member["properties"]["email"]


def test_number_patterns_are_the_servers_ascii_formats(schema):
    purchase = resolve(schema, {"$ref": "#/components/schemas/PurchaseCreateInputRequest"})
    amount = purchase["properties"]["amount"]
    assert amount["type"] == "string"
    assert amount["pattern"] == r"^[0-9]{1,14}(\.[0-9]{1,4})?$"
    occurred_at = purchase["properties"]["occurred_at"]
    assert "[0-9]" in occurred_at["pattern"] and "\\d" not in occurred_at["pattern"]
    assert purchase["properties"]["order_id"]["pattern"] == r"^[^/\x00-\x1f\x7f]+$"
