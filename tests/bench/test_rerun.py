"""The rerun section of docs/benchmarks.md: how figures moved since the previous run."""

from __future__ import annotations

from bench.__main__ import rerun_section


def stat(median: float, low: float, high: float, runs: int = 3) -> dict[str, float]:
    return {"median": median, "min": low, "max": high, "runs": runs}


def test_a_previous_median_outside_this_runs_range_is_listed_and_the_rest_counted() -> None:
    results = {
        "core": {"grid": {"burst_s": stat(2.5, 2.3, 2.8), "one_update_s": stat(0.18, 0.17, 0.2)},
                 "memory_kib": stat(274, 274, 274, runs=1), "_seconds": 100},
        "_previous": {"core": {"grid": {"burst_s": stat(2.9, 2.5, 3.0), "one_update_s": stat(0.18, 0.1, 0.3)},
                               "memory_kib": stat(467, 467, 467, runs=1)}},
    }  # fmt: skip
    section = rerun_section(results)
    assert "| core | 1 of 2 | 7% / 14% | grid.burst_s 2.9 -> 2.5 (2.3-2.8) |" in section
    assert "memory_kib" not in section  # measured once: no range to judge it by


def test_without_a_previous_run_the_section_says_so() -> None:
    assert "No previous run" in rerun_section({"core": {"x": stat(1, 0, 2)}})
