"""What Flow Service says about one dataflow: the flow, its datasets, its target, its runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from verifier.aep.client import FlowServiceClient
from verifier.aep.model import DATASET_FLOW_SPECS, Flow, FlowRun, Target, first_item, source_datasets


@dataclass
class FlowSnapshot:
    flow: Flow
    datasets: dict[str, str]  # dataset id -> name, from every source connection of the flow
    targets: list[Target]
    runs: list[FlowRun] = field(default_factory=list)

    @property
    def target(self) -> Target | None:
        return self.targets[0] if self.targets else None

    @property
    def template(self) -> str | None:
        """The folder template: in scheduleParams (EXP-API), else on the target connection."""
        if self.flow.schedule.template:
            return self.flow.schedule.template
        t = self.target
        return t.template if t else None


def fetch_flow(client: FlowServiceClient, flow_id: str, runs_since: datetime | None) -> FlowSnapshot:
    """The flow, its source and target connections, and its runs started after `runs_since`."""
    flow = Flow.parse(first_item(client.get(f"/flows/{flow_id}")))
    datasets: dict[str, str] = {}
    for sid in flow.source_ids:
        datasets.update(source_datasets(first_item(client.get(f"/sourceConnections/{sid}"))))
    targets = [Target.parse(first_item(client.get(f"/targetConnections/{tid}"))) for tid in flow.target_ids]
    return FlowSnapshot(flow, datasets, targets, fetch_runs(client, flow_id, runs_since))


def fetch_runs(client: FlowServiceClient, flow_id: str, since: datetime | None) -> list[FlowRun]:
    params = [("property", f"flowId=={flow_id}")]
    if since is not None:  # SORT: runs filter on metrics.durationSummary.startedAtUTC in epoch ms
        params.append(("property", f"metrics.durationSummary.startedAtUTC>{int(since.timestamp() * 1000)}"))
    runs = [FlowRun.parse(r) for r in client.pages("/runs", params)]
    # the flowId filter is the server's; a run of another flow must never be booked to this one
    return [r for r in runs if r.id and r.flow_id in ("", flow_id)]


def list_dataset_flows(client: FlowServiceClient) -> list[FlowSnapshot]:
    """Every dataset-export dataflow the credential sees, with datasets, target and last run."""
    out = []
    for raw in client.pages("/flows", [("property", "inheritedAttributes.properties.isDestinationFlow==true")]):
        flow = Flow.parse(raw)
        if flow.flow_spec_id not in DATASET_FLOW_SPECS:
            continue  # audience exports share the target specs; only dataset exports are ours
        datasets: dict[str, str] = {}
        for sid in flow.source_ids:
            datasets.update(source_datasets(first_item(client.get(f"/sourceConnections/{sid}"))))
        targets = [Target.parse(first_item(client.get(f"/targetConnections/{tid}"))) for tid in flow.target_ids]
        out.append(FlowSnapshot(flow, datasets, targets))
    return out
