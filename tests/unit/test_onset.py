"""The metrics onset of a finding: the start of the rise still going on, ignoring single dips."""

from __future__ import annotations

from datetime import UTC, datetime

from pagerbot.core.onset import rising_since

T0 = 1_773_140_000.0  # 2026-03-10 10:53:20 UTC


def _minutes(values: list[float]) -> tuple[list[float], list[float]]:
    return [T0 + 60 * i for i in range(len(values))], values


def test_a_step_that_lasts_is_found_at_its_first_sample_past_the_mark() -> None:
    quiet, risen = [1.5] * 60, [17.0, 16.5, 13.9, 17.1, 16.8] * 8 + [50.0, 55.0, 57.0] * 5
    times, values = _minutes([*quiet, 7.3, *risen])
    # 1.5 quiet, ~55 now: the mark is ~9.5, so the 7.3 minute is before the onset and the 17.0 one starts it
    assert rising_since(times, values, min_rise=5) == datetime.fromtimestamp(T0 + 61 * 60, UTC)


def test_single_dips_inside_the_rise_do_not_end_it() -> None:
    risen = [20.0, 20.0, 2.0, 20.0, 2.0, 2.0, 20.0] * 6
    times, values = _minutes([1.0] * 30 + risen)
    assert rising_since(times, values, min_rise=5) == datetime.fromtimestamp(T0 + 30 * 60, UTC)


def test_no_onset_when_the_series_is_flat_or_back_down_or_risen_from_the_start() -> None:
    assert rising_since(*_minutes([1.5] * 100), min_rise=5) is None
    assert rising_since(*_minutes([1.5] * 30 + [40.0] * 30 + [1.5] * 30), min_rise=5) is None
    assert rising_since(*_minutes([40.0] * 5 + [1.0] + [40.0] * 60), min_rise=5) is None
    assert rising_since(*_minutes([1.0] * 30 + [4.0] * 30), min_rise=5) is None  # too small a rise


def test_gaps_are_skipped() -> None:
    nan = float("nan")
    times, values = _minutes([1.0] * 30 + [nan] * 5 + [30.0] * 30)
    assert rising_since(times, values, min_rise=5) == datetime.fromtimestamp(T0 + 35 * 60, UTC)
