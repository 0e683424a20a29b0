"""A fake Flow Service in agreement with a generated export tree: the starting point of every
AEP scenario, which then breaks one thing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fixtures.generate import ExportInfo, generate_dataset
from tests.helpers import START
from verifier.testing.aep_fake import FakeAep, serve

FLOW = "7a6e996c-afcc-48ff-ab14-594321147cdd"
DS_A = "5ef3e324052581191aa6a466"
DS_B = "616d53e0a6de2719486fb024"
RUN_DELAY = timedelta(minutes=5)  # runs start a little after their slot


@dataclass
class World:
    fake: FakeAep
    url: str
    folder: Path
    exports: dict[str, list[ExportInfo]]

    def aep_toml(self, secret_var: str = "VERIFIER_TEST_AEP_SECRET") -> str:
        return (
            f'[aep]\norg_id = "{self.fake.org_id}"\nsandbox = "prod"\nplatform_url = "{self.url}"\n'
            f'ims_url = "{self.url}/ims/token/v3"\n[aep.secrets]\nclient_id = "${{VERIFIER_TEST_AEP_ID}}"\n'
            f'client_secret = "${{{secret_var}}}"\n'
        )

    def drop(self, ds: str, index: int) -> ExportInfo:
        """Take one export away, as if its slot never ran: its folder and its per-dataset run."""
        e = self.exports[ds][index]
        shutil.rmtree(e.path)
        self.fake.runs = [r for r in self.fake.runs if r["id"] != e.flow_run_id]
        return e

    def runs_for_exports(self, per_dataset: bool = True, **kw: Any) -> None:
        """One successful run per export (per dataset), or one per slot covering every dataset."""
        if per_dataset:
            for ds, exports in self.exports.items():
                for e in exports:
                    self.fake.add_run(
                        FLOW,
                        e.export_time + RUN_DELAY,
                        run_id=e.flow_run_id,
                        records=e.record_count,
                        datasets=[ds],
                        **kw,
                    )
            return
        slots = sorted({e.export_time for es in self.exports.values() for e in es})
        for t in slots:
            self.fake.add_run(FLOW, t + RUN_DELAY, **kw)


def make_world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    manifest: bool = True,
    start: datetime = START,
    count: int = 4,
    **flow: Any,
) -> Iterator[World]:
    """Two datasets, four daily exports each from `start` (every slot due at NOW), and a flow over
    both that agrees."""
    folder = tmp_path / "exports"
    exports = {
        ds: generate_dataset(
            folder, ds, start=start, count=count, seed=i, manifest=manifest, rows_full=40, rows_incremental=10
        )
        for i, ds in enumerate((DS_A, DS_B))
    }
    fake = FakeAep()
    fake.add_flow(FLOW, {DS_A: "Events", DS_B: "Profiles", **flow.pop("extra_datasets", {})}, start=start, **flow)
    monkeypatch.setenv("VERIFIER_TEST_AEP_ID", fake.client_id)
    monkeypatch.setenv("VERIFIER_TEST_AEP_SECRET", fake.client_secret)
    with serve(fake) as url:
        yield World(fake, url, folder, exports)
