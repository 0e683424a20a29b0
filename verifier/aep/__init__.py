"""Adobe Experience Platform Flow Service: what should be in storage (SPEC §9, docs/aep.md).

client: IMS tokens, headers, paging, retries. model: flows, connections, runs read tolerantly.
fetch: one flow with its datasets, target and runs. reconcile: the findings. sync: a run's step.
"""
