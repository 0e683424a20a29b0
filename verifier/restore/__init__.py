"""Restore lookups: which exports and files rebuild a dataset as of a time, fetching them verified,
and loading them into a table.

- `verifier.restore.plan`: the chain of exports needed as of T, from the catalog alone (read-only),
  and whether every link of it is intact; picks an intact chain among several destinations.
- `verifier.restore.fetch`: streams the planned files into ``DIR/<datasetID>/exportTime=.../<name>``,
  each hashed while written and checked against the catalog before it is atomically put in place
  (`place`: safe folders and `.part` files; `verify`: the bytes against the catalog; `decrypt`:
  --decrypt's plaintext; `results`: what became of each file, as JSON and text).
- `verifier.restore.load`: loads the restored files into one DuckDB table or Parquet file.

The submodules are not re-exported here: ``from verifier.restore import plan`` is the module.
"""
