"""The router's pure logic: request bodies against the contract, sticky buckets and the
weighted choice (no Ray)."""

from __future__ import annotations

import pytest

from lifecycle.runtime.serve.requests import (
    BadRequest,
    bucket,
    choose,
    labels_of,
    rows_of,
    shadow_room,
    sticky_value,
)

FEATURES = {"amount": {"type": "float"}, "hour": {"type": "int"},
            "channel": {"type": "category", "categories": ["web", "pos"]}}
ROW = {"amount": 12.5, "hour": 3, "channel": "web"}


@pytest.mark.parametrize("body", [{"rows": [ROW]}, [ROW], ROW])
def test_accepted_shapes(body: object) -> None:
    assert rows_of(body, FEATURES) == [ROW]


@pytest.mark.parametrize("body,message", [
    ("text", "must be a JSON object"),
    ({"rows": []}, "non-empty list"),
    ({"rows": [1]}, "row 0 is not an object"),
    ({"rows": [{"amount": 1.0, "hour": 3}]}, "row 0: missing feature 'channel'"),
    ({"rows": [{**ROW, "amount": "x"}]}, "'amount' must be a finite number"),
    ({"rows": [{**ROW, "amount": True}]}, "'amount' must be a finite number"),
    ({"rows": [{**ROW, "hour": 2.5}]}, "'hour' must be a whole number"),
    ({"rows": [ROW, {**ROW, "channel": "atm"}]}, "row 1: 'channel' is 'atm', not one of"),
])
def test_malformed_requests_name_the_row_and_feature(body: object, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        rows_of(body, FEATURES)
    assert message in exc.value.message and exc.value.hint


def test_shares_follow_the_weights() -> None:
    points = [i / 100 for i in range(10_000)]
    picked = [choose({"stable": 90.0, "candidate": 10.0}, p) for p in points]
    assert picked.count("candidate") == 1000
    assert choose({"candidate": 100.0}, 99.99) == "candidate"
    assert choose({"stable": 100.0, "candidate": 0.0}, 0.0) == "stable"


def test_sticky_keys_only_move_towards_a_widening_candidate() -> None:
    keys = [f"user-{i}" for i in range(2000)]
    at = {w: {k: choose({"stable": 100 - w, "candidate": w}, bucket(k)) for k in keys}
          for w in (5.0, 25.0, 50.0)}
    for k in keys:
        assert bucket(k) == bucket(k)
        if at[5.0][k] == "candidate":
            assert at[25.0][k] == at[50.0][k] == "candidate"
    share = sum(v == "candidate" for v in at[25.0].values()) / len(keys)
    assert 0.21 <= share <= 0.29


def test_sticky_value_precedence() -> None:
    assert sticky_value({"customer": "c1"}, "h1", "customer") == "h1"
    assert sticky_value({"customer": "c1", "rows": [{}]}, None, "customer") == "c1"
    assert sticky_value({"rows": [{"customer": 7}]}, None, "customer") == "7"
    assert sticky_value({"rows": [{"customer": 7}]}, None, None) is None


def test_shadow_copies_use_only_the_targets_spare_slots() -> None:
    # one replica x 5 slots: a reserve of 1 stays free for the target's own callers
    assert [shadow_room(5, real, 0, 100) for real in range(6)] == \
        [True, True, True, True, False, False]
    assert shadow_room(5, 0, 3, 100) and not shadow_room(5, 0, 4, 100)
    assert shadow_room(5, 1, 2, 100) and not shadow_room(5, 1, 3, 100)
    # a larger target keeps a quarter in reserve
    assert shadow_room(20, 10, 4, 100) and not shadow_room(20, 10, 5, 100)
    # max_queued caps copies whatever the capacity
    assert not shadow_room(100, 0, 8, 8)
    # an unknown capacity (an older Router config): max_queued alone
    assert shadow_room(None, 50, 7, 8) and not shadow_room(None, 0, 8, 8)
    # a one-slot target never gets a copy: its one slot is its callers' reserve
    assert not shadow_room(1, 0, 0, 8)


def test_no_shadow_copies_while_the_application_is_saturated() -> None:
    # two slots of 5: callers and copies together within the 10 slots
    assert shadow_room(5, 0, 0, 8, app_capacity=10, app_in_flight=9)
    assert not shadow_room(5, 0, 0, 8, app_capacity=10, app_in_flight=10)
    assert shadow_room(5, 0, 2, 8, app_capacity=10, app_in_flight=7)
    assert not shadow_room(5, 0, 3, 8, app_capacity=10, app_in_flight=7)
    assert not shadow_room(5, 0, 0, 8, app_capacity=10, app_in_flight=16)  # callers queue
    assert shadow_room(5, 0, 0, 8, app_capacity=None, app_in_flight=16)


RANGED = {"amount": {"type": "float", "min": 0.0, "max": 10_000.0},
          "hour": {"type": "int", "min": 0, "max": 23}}


@pytest.mark.parametrize("row,message", [
    ({"amount": -5, "hour": 3}, "row 0: 'amount' is -5, below the contract's min 0"),
    ({"amount": 1e9, "hour": 3}, "row 0: 'amount' is 1000000000.0, above the contract's "
                                 "max 10000"),
    ({"amount": 5.0, "hour": 24}, "row 0: 'hour' is 24, above the contract's max 23"),
])
def test_values_outside_the_contracts_range_are_a_400(row: dict[str, object],
                                                      message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        rows_of({"rows": [row]}, RANGED)
    assert exc.value.message == message
    assert "the model never saw such values" in exc.value.hint


def test_the_range_bounds_themselves_are_accepted() -> None:
    rows = [{"amount": 0, "hour": 0}, {"amount": 10_000.0, "hour": 23}]
    assert rows_of({"rows": rows}, RANGED) == rows


def test_labels_of_a_feedback_post() -> None:
    items = labels_of({"labels": [{"request_id": "a", "label": 1},
                                  {"request_id": "b", "label": True, "row": 2},
                                  {"request_id": "c", "label": 0.25}]})
    assert [(i.request_id, i.label, i.row) for i in items] == [
        ("a", 1, 0), ("b", 1, 2), ("c", 0.25, 0)]


@pytest.mark.parametrize("body, message", [
    ({}, "non-empty list 'labels'"),
    ({"labels": []}, "non-empty list 'labels'"),
    ([{"request_id": "a", "label": 1}], "non-empty list 'labels'"),
    ({"labels": [{"request_id": "a", "label": 1}, 3]}, r"labels\[1\] is not an object"),
    ({"labels": [{"request_id": "a", "label": 1, "x": 2}]}, "unknown key 'x'"),
    ({"labels": [{"label": 1}]}, r"labels\[0\]: request_id must be"),
    ({"labels": [{"request_id": "", "label": 1}]}, "request_id must be"),
    ({"labels": [{"request_id": "a", "label": "fraud"}]}, "label must be a number"),
    ({"labels": [{"request_id": "a", "label": float("nan")}]}, "label must be a number"),
    ({"labels": [{"request_id": "a", "label": 1, "row": -1}]}, "row must be"),
    ({"labels": [{"request_id": "a", "label": 1, "row": True}]}, "row must be"),
    ({"labels": [{"request_id": "a", "label": 1}] * 10_001}, "at most 10000"),
])
def test_a_malformed_label_is_a_400_naming_it(body: object, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        labels_of(body)
