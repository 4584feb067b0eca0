"""The hot input serializers copy their declared fields attribute by attribute
(loyalty_engine.fields.CopiedFieldsMixin, issue 18) and still validate as DRF's deep copy
does: the bad-input tests cover what they answer; these cover the copies themselves."""

import copy

import pytest
from rest_framework import serializers

from loyalty_engine.fields import CopiedFieldsMixin, field_copy
from rewards.apis.purchases import PurchaseCreateApi
from rewards.apis.redemptions import RedemptionCreateApi

HOT = [PurchaseCreateApi.InputSerializer, RedemptionCreateApi.InputSerializer]


def _comparable(value):
    # Validators and nested fields are new objects in DRF's copy too: compare their kind.
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, serializers.Field) or callable(value) and not isinstance(value, type):
        return type(value)
    return value


@pytest.mark.parametrize("serializer", HOT, ids=lambda s: s.__qualname__)
def test_each_copy_has_the_state_drfs_deep_copy_gives(serializer):
    assert issubclass(serializer, CopiedFieldsMixin)
    for name, declared in serializer._declared_fields.items():
        copied, deep = field_copy(declared), copy.deepcopy(declared)

        assert type(copied) is type(deep) and copied is not declared
        assert copied.__dict__.keys() == deep.__dict__.keys(), name
        for key, value in copied.__dict__.items():
            if key == "_creation_counter":  # a new field's place in a class: not used here
                continue
            assert _comparable(value) == _comparable(deep.__dict__[key]), (name, key)
        if "_validators" in declared.__dict__:
            assert copied._validators is not declared._validators


def test_binding_a_copy_leaves_the_declared_field_unbound():
    serializer = PurchaseCreateApi.InputSerializer(data={})
    bound = serializer.fields["order_id"]
    declared = PurchaseCreateApi.InputSerializer._declared_fields["order_id"]

    assert bound.parent is serializer and bound.field_name == "order_id"
    assert declared.parent is None and declared.field_name is None
    # A validator added to one request's field does not reach the next request's.
    bound.validators.append(lambda value: None)
    again = PurchaseCreateApi.InputSerializer(data={}).fields["order_id"]
    assert len(again.validators) == len(bound.validators) - 1


def test_fields_holding_fields_are_deep_copied_so_no_bound_child_is_shared():
    first = PurchaseCreateApi.InputSerializer(data={}).fields["lines"]
    second = PurchaseCreateApi.InputSerializer(data={}).fields["lines"]

    assert first is not second and first.child is not second.child
    assert first.child.parent is first and second.child.parent is second


def test_two_serializers_validate_independently():
    good = {"member": "m-1", "order_id": "o-1", "amount": "25.90", "currency": "EUR"}
    bad = {**good, "order_id": "a/b", "amount": "1e3"}
    first = PurchaseCreateApi.InputSerializer(data=bad)
    second = PurchaseCreateApi.InputSerializer(data=good)

    assert not first.is_valid()
    assert second.is_valid(), second.errors
    assert set(first.errors) == {"order_id", "amount"}
