"""The earn's and the redemption's plain bodies are validated without building the
serializer's fields (loyalty_engine.fields.PlainInputMixin, issue 18). Whatever the short
way accepts, the whole serializer accepts with the same data, down to each decimal's
places (the request hash decides replays); whatever it refuses goes to the whole
serializer, which answers the error as before; and every plain body the whole serializer
accepts takes the short way."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loyalty_engine.fields import PlainInputMixin
from rewards.apis.common import request_hash
from rewards.apis.purchases import PurchaseCreateApi
from rewards.apis.redemptions import RedemptionCreateApi

Input = PurchaseCreateApi.InputSerializer

identifiers = st.one_of(
    st.text(min_size=0, max_size=70),
    st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True),
    st.sampled_from(["bench-1", " bench-1", "bench-1 ", "a/b", "x\u200by", "\x00", "é" * 64]),
)
amounts = st.one_of(
    st.from_regex(r"-?[0-9]{1,16}(\.[0-9]{0,6})?", fullmatch=True),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["57.31", "0.0001", "0.00001", "1E+2", " 7", "١٢", "1_000", "", "0", "150"]),
)
currencies = st.one_of(
    st.sampled_from(["EUR", "SEK", "DKK", "JPY", "BHD", "eur", "XXX", "EU", "EURO", "ZZZ"]),
    st.text(min_size=0, max_size=4),
)
anything = st.one_of(st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.just({}))
plain_bodies = st.fixed_dictionaries(
    {
        "member": st.one_of(identifiers, anything),
        "order_id": st.one_of(identifiers, anything),
        "amount": st.one_of(amounts, anything),
        "currency": st.one_of(currencies, anything),
    }
)
# Bodies that leave a field out or send more: the short way must leave them to the
# serializer.
other_bodies = st.one_of(
    plain_bodies.flatmap(
        lambda body: st.sets(st.sampled_from(sorted(body)), min_size=1).map(
            lambda gone: {key: value for key, value in body.items() if key not in gone}
        )
    ),
    plain_bodies.map(lambda body: {**body, "lines": []}),
    plain_bodies.map(lambda body: {**body, "occurred_at": None}),
    plain_bodies.map(lambda body: {**body, "unknown": 1}),
)


def _places(data: dict) -> dict:
    # Decimal("57.31") == Decimal("57.3100"), but their request hashes differ.
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in data.items()}


def _both(body):
    short = Input(data=body).plain_validated_data()
    whole = Input(data=body)
    return short, whole, whole.is_valid()


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(plain_bodies)
@example({"member": "bench-1", "order_id": "o-1", "amount": "57.31", "currency": "EUR"})
@example({"member": "bench-1", "order_id": "o-1", "amount": "57.315", "currency": "EUR"})
@example({"member": "bench-1", "order_id": "o-1", "amount": "150", "currency": "JPY"})
@example({"member": " bench-1 ", "order_id": "o-1", "amount": 12, "currency": "BHD"})
@example({"member": "bench-1", "order_id": "o-1", "amount": "57.31", "currency": "ZZZ"})
@example({"member": "bench-1", "order_id": "o-1", "amount": "57.31", "currency": "eur"})
def test_a_plain_body_validates_as_the_whole_serializer_validates_it(body):
    short, whole, valid = _both(body)
    if valid:
        assert short is not None, whole.validated_data  # the short way is taken
        assert _places(short) == _places(dict(whole.validated_data))
        assert request_hash(short) == request_hash(whole.validated_data)
    else:
        assert short is None, (short, whole.errors)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(other_bodies, anything, st.text(max_size=5)))
def test_any_other_body_goes_to_the_whole_serializer(body):
    assert Input(data=body).plain_validated_data() is None


def test_the_short_way_gives_the_serializers_defaults():
    body = {"member": "m-1", "order_id": "o-1", "amount": "57.31", "currency": "EUR"}
    short, whole, valid = _both(body)
    assert valid
    assert short == {**body, "amount": Decimal("57.3100"), "occurred_at": None, "lines": []}
    assert short.keys() == whole.validated_data.keys()


@pytest.mark.django_db
def test_an_earn_with_a_plain_body_answers_as_before(shop_client, member):
    """Through the API: the plain body earns; the same body with one bad value answers
    the serializer's error envelope."""
    body = {"member": member.external_id, "order_id": "plain-1", "amount": "57.31"}
    response = shop_client.post("/api/v1/purchases", {**body, "currency": "EUR"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["points_earned"] == 57

    bad = shop_client.post("/api/v1/purchases", {**body, "currency": "EUX"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["currency"][0]["code"] == "unknown_currency"


def test_only_the_hot_serializers_take_the_short_way():
    for serializer in (Input, Redeem):
        assert issubclass(serializer, PlainInputMixin)
        assert serializer.plain_fields <= set(serializer._declared_fields)


Redeem = RedemptionCreateApi.InputSerializer

points = st.one_of(
    st.integers(min_value=-5, max_value=2 * 10**9),
    st.integers().map(str),
    st.sampled_from(["1", "01", " 7", "1.0", "1e3", "١٢", "", True, False, 1.0, 10**9, 10**9 + 1]),
)
booleans = st.one_of(
    st.booleans(),
    st.sampled_from(["true", "false", "True", "1", "0", "yes", "no", "on", 1, 0, 2, "", None]),
)
redeem_bodies = st.fixed_dictionaries(
    {"member": st.one_of(identifiers, anything), "points": st.one_of(points, anything)},
    optional={
        "order_id": st.one_of(identifiers, anything),
        "hold": booleans,
        "reward_id": st.integers(min_value=0, max_value=3),
        "order_total": amounts,
        "other": st.just(1),
    },
)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        redeem_bodies,
        redeem_bodies.map(lambda body: {**body, "points": 5}),
        redeem_bodies.map(lambda body: {k: v for k, v in body.items() if k != "points"}),
    )
)
@example({"member": "bench-1", "points": 1})
@example({"member": "bench-1", "points": "25", "order_id": "", "hold": "true"})
@example({"member": "bench-1", "points": 1, "reward_id": 1})
def test_a_plain_redemption_validates_as_the_whole_serializer_validates_it(body):
    short = Redeem(data=body).plain_validated_data()
    whole = Redeem(data=body)
    if whole.is_valid() and body.keys() <= Redeem.plain_fields:
        assert short is not None, whole.validated_data
        assert short == dict(whole.validated_data)
        assert request_hash(short) == request_hash(whole.validated_data)
    else:
        assert short is None, (short, whole.errors)


def test_the_short_way_leaves_the_declared_fields_as_declared():
    """It validates with copies of its own: the fields each request copies stay as DRF
    declared them (test_copied_fields.py compares those copies with DRF's)."""
    before = {
        serializer: {
            name: dict(field.__dict__) for name, field in serializer._declared_fields.items()
        }
        for serializer in (Input, Redeem)
    }
    Input(
        data={"member": "m", "order_id": "o", "amount": "1.50", "currency": "EUR"}
    ).plain_validated_data()
    Redeem(data={"member": "m", "points": 5, "hold": "true"}).plain_validated_data()
    for serializer, fields in before.items():
        for name, state in fields.items():
            assert serializer._declared_fields[name].__dict__.keys() == state.keys(), name
