"""The scenario planner (``delivery.scenarios.plan``): each send's offset from the start, from
the captures' own spacing or a fixed interval, with disorder and duplicates, and its bounds.
Pure functions on plain values: no database, no clock."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from receiver.delivery.scenarios import MAX_SENDS
from receiver.delivery.scenarios import ScenarioError
from receiver.delivery.scenarios import ScenarioSpec
from receiver.delivery.scenarios import Send
from receiver.delivery.scenarios import Source
from receiver.delivery.scenarios import Timing
from receiver.delivery.scenarios import plan

START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def sources(*gaps_ms: float, first_id: int = 100) -> list[Source]:
    """Captures numbered from 1, each ``gap`` ms after the one before it."""
    at = START
    found = [Source(first_id, 1, at)]
    for number, gap in enumerate(gaps_ms, start=2):
        at += timedelta(milliseconds=gap)
        found.append(Source(first_id + number - 1, number, at))
    return found


def spec(**fields: object) -> ScenarioSpec:
    return ScenarioSpec(url="http://127.0.0.1:9/", **fields)


def test_the_original_spacing_is_kept_and_divided_by_the_speed() -> None:
    captured = sources(400, 1000, 0)

    assert plan(captured, spec()) == [
        Send(100, 0.0),
        Send(101, 400.0),
        Send(102, 1400.0),
        Send(103, 1400.0),
    ]
    faster = plan(captured, spec(timing=Timing(speed=4.0)))
    assert [send.at_ms for send in faster] == [0.0, 100.0, 350.0, 350.0]


def test_gaps_are_capped_and_an_interval_ignores_the_capture_times() -> None:
    captured = sources(50, 60_000, 10)

    capped = plan(captured, spec(timing=Timing(max_gap_ms=1000)))
    assert [send.at_ms for send in capped] == [0.0, 50.0, 1050.0, 1060.0]
    every = plan(captured, spec(timing=Timing("interval", interval_ms=250)))
    assert [send.at_ms for send in every] == [0.0, 250.0, 500.0, 750.0]


def test_captures_are_planned_in_capture_order_whatever_order_they_come_in() -> None:
    captured = sources(100, 100, 100)

    assert plan(list(reversed(captured)), spec()) == plan(captured, spec())


def test_clocks_that_went_backwards_never_plan_a_send_before_the_one_before_it() -> None:
    captured = sources(500, -300)  # the third capture says it arrived before the second

    assert [send.at_ms for send in plan(captured, spec())] == [0.0, 500.0, 500.0]


def test_duplicates_follow_their_original_at_the_same_moment() -> None:
    captured = sources(100)

    assert plan(captured, spec(duplicates=2)) == [
        Send(100, 0.0, 0),
        Send(100, 0.0, 1),
        Send(100, 0.0, 2),
        Send(101, 100.0, 0),
        Send(101, 100.0, 1),
        Send(101, 100.0, 2),
    ]


def test_shuffling_stays_within_its_windows_keeps_the_moments_and_repeats_with_its_seed() -> None:
    captured = sources(*[10] * 11)  # twelve captures
    ids = [source.id for source in captured]

    shuffled = plan(captured, spec(shuffle_window=4, seed=11))

    assert [send.at_ms for send in shuffled] == [send.at_ms for send in plan(captured, spec())]
    order = [send.request_id for send in shuffled]
    assert order != ids
    for start in range(0, 12, 4):
        assert sorted(order[start : start + 4]) == ids[start : start + 4]
    assert plan(captured, spec(shuffle_window=4, seed=11)) == shuffled
    assert plan(captured, spec(shuffle_window=4, seed=12)) != shuffled


def test_a_window_of_one_changes_nothing() -> None:
    captured = sources(10, 10, 10)

    assert plan(captured, spec(shuffle_window=1, seed=5)) == plan(captured, spec())


@pytest.mark.parametrize(
    ("captured", "asked", "code", "words"),
    [
        ([], {}, "no_captures", "nothing to replay"),
        (sources(*[1] * (MAX_SENDS // 2)), {"duplicates": 1}, "invalid_scenario", "sends"),
        (sources(25 * 3_600_000), {}, "invalid_scenario", "25.0 hours"),
        (sources(*[10] * 25), {"timing": Timing("interval", interval_ms=3_600_000)}, None, "25.0"),
    ],
    ids=["nothing", "too-many-sends", "longer-than-a-day", "interval-longer-than-a-day"],
)
def test_plans_out_of_bounds_are_refused_in_words(
    captured: list[Source], asked: dict[str, object], code: str | None, words: str
) -> None:
    with pytest.raises(ScenarioError) as refused:
        plan(captured, spec(**asked))
    assert refused.value.code == (code or "invalid_scenario")
    assert words in refused.value.message


def test_a_day_exactly_is_allowed() -> None:
    assert plan(sources(24 * 3_600_000), spec())[-1].at_ms == 24 * 3_600_000
