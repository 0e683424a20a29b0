"""--sample P reads every data file in full within ceil(100 / P) sampled runs: a property over
random trees and run sequences (pure selection logic), and once end to end on a real local tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import START, do_run, later, local_config, sql
from verifier.catalog import Catalog
from verifier.queries import status
from verifier.sampling import Candidate, RunLedger, SampledRun, choose, period, runs_to_full_coverage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DATASETS = ("ds-a", "ds-b")


@dataclass
class Run:
    percent: float | None  # None: a run that does not sample (it does not count)
    scope: tuple[str, ...]  # the datasets the run covers
    new_sizes: list[tuple[str, int]]  # files appearing tonight: (dataset, size)


@dataclass
class FileState:
    key: tuple[str, str, datetime, str]
    size: int
    first_seen: int
    last_read: int | None = None
    passed_by: int = 0  # covering sampled runs since the last full read (or first sighting) without one


@dataclass
class World:
    files: list[FileState] = field(default_factory=list)
    runs: list[SampledRun] = field(default_factory=list)


sizes = st.one_of(st.just(0), st.integers(1, 1_000), st.integers(1, 10**9))
runs = st.builds(
    Run,
    percent=st.one_of(st.none(), st.just(10.0), st.just(10.0), st.just(10.0)),
    scope=st.sampled_from([DATASETS, DATASETS, ("ds-a",), ("ds-b",)]),
    new_sizes=st.lists(st.tuples(st.sampled_from(DATASETS), sizes), max_size=6),
)


def _tonight(world: World, run_id: int, run: Run) -> None:
    for i, (ds, size) in enumerate(run.new_sizes):
        key = ("dest", ds, T0 + timedelta(days=run_id), f"part-{i}.parquet")
        world.files.append(FileState(key, size, run_id))
    if run.percent is None:
        return
    ledger = RunLedger(world.runs)
    covered = [f for f in world.files if f.key[1] in run.scope and f.size > 0]  # zero bytes: nothing to read
    cands = [
        Candidate(
            f.key,
            f.size,
            ledger.waited(
                "dest",
                f.key[1],
                f.last_read if f.last_read is not None else f.first_seen,
                inclusive=f.last_read is None,
            ),
            f.last_read,
        )
        for f in covered
    ]
    chosen = choose(cands, percent=run.percent, budget=None)
    limit = period(run.percent)
    for f in covered:
        if f.key in chosen:
            f.last_read, f.passed_by = run_id, 0
        else:
            f.passed_by += 1
            assert f.passed_by < limit, f"{f.key} passed by {f.passed_by} sampled runs, more than {limit} - 1"
    world.runs.append(SampledRun(run_id, frozenset({"dest"}), frozenset(run.scope)))


@settings(max_examples=150, deadline=None)
@given(st.lists(runs, min_size=1, max_size=25), st.sampled_from([1.0, 7.5, 10.0, 25.0, 33.0, 50.0, 100.0]))
def test_every_file_is_read_within_ceil_100_over_p_sampled_runs(sequence: list[Run], percent: float) -> None:
    world = World()
    for run_id, run in enumerate(sequence, start=1):
        if run.percent is not None:
            run.percent = percent
        _tonight(world, run_id, run)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=30), st.integers(1, 10**6), st.integers(0, 9))
def test_a_budget_is_a_hard_cap(file_sizes: list[int], budget: int, waited: int) -> None:
    cands = [Candidate(("d", "s", T0, str(i)), n, waited, None) for i, n in enumerate(file_sizes)]
    chosen = choose(cands, percent=10.0, budget=budget)
    spent = sum(c.size for c in cands if c.key in chosen)
    assert spent <= budget
    assert chosen or budget < min(file_sizes)


def test_due_files_come_first_whatever_their_size() -> None:
    big = Candidate(("d", "s", T0, "big"), 10**9, 9, 1)
    small = [Candidate(("d", "s", T0, f"s{i}"), 10, 0, None) for i in range(10)]
    assert choose([big, *small], percent=10.0, budget=None) == {big.key}
    assert choose([big, *small], percent=10.0, budget=100) == {s.key for s in small}
    assert period(10.0) == 10 and period(33.0) == 4 and period(100.0) == 1 and period(0.5) == 200


def test_sample_25_reads_every_file_of_a_real_tree_within_four_runs(tmp_path: Path) -> None:
    """Mixed sizes, a failed export, a zero-byte file and new exports arriving between runs."""
    folder = tmp_path / "exports"
    generate_dataset(folder, start=START, count=3, seed=5, files_full=3, rows_full=900, rows_incremental=20)
    small = generate_dataset(folder, start=START, count=3, seed=6, rows_full=40, rows_incremental=10)
    inject(small[1], "parquet_truncated")
    inject(small[2], "file_empty")
    config = local_config(tmp_path, folder, stale_after="3650d")
    do_run(config, "metadata")
    unread = "SELECT dataset_id FROM files WHERE role = 'data' AND size > 0 AND full_read_run IS NULL"
    newcomer = ""
    for night in range(1, 5):
        if night == 2:  # a new dataset appears: its window of four sampled runs starts tonight
            newcomer = generate_dataset(folder, start=START, count=2, seed=7, rows_full=400)[0].dataset_id
        s = do_run(config, "metadata", now=later(24 * night), sample=25)
        assert s.exit_code == 2  # the broken export stays broken
    waiting = {d for (d,) in sql(config, unread)}
    assert waiting <= {newcomer}  # the first tree: all read within four runs
    # status says when coverage is complete: the newcomer's files have waited three of their four runs
    outlook = {r["dataset_id"]: r["full_coverage_in_runs"] for r in status(Catalog(config.catalog_path))}
    assert outlook == {ds: 1 if ds in waiting else 0 for ds in outlook} and len(outlook) == 3
    do_run(config, "metadata", now=later(24 * 5), sample=25)
    assert sql(config, unread) == []
    rows = status(Catalog(config.catalog_path))
    assert [r["full_coverage_in_runs"] for r in rows] == [0, 0, 0]
    assert all(r["oldest_full_read"] is not None for r in rows)
    # a zero-byte file has nothing to read: it is reported, and counts as read
    assert sql(config, "SELECT count(*) FROM files WHERE size = 0 AND role = 'data'") == [(1,)]
    # the reads are spread over the runs (a share each night), not all done in one
    per_run = sql(config, "SELECT full_read_run, count(*) FROM files WHERE role = 'data' GROUP BY 1 ORDER BY 1")
    assert len(per_run) >= 4, per_run


def test_runs_to_full_coverage() -> None:
    assert runs_to_full_coverage([], 10.0) == 0
    assert runs_to_full_coverage([0, 3], 10.0) == 10  # a file seen tonight: the full window
    assert runs_to_full_coverage([9, 12], 10.0) == 1  # overdue ones are read in the next run
    assert runs_to_full_coverage([2], None) is None  # only a budget: no promise
