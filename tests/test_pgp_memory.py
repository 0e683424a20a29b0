"""A big encrypted Parquet export is checked at full level, decrypted, in flat memory.

`make test` uses 256 MiB (peak RSS does not depend on the size: blocks, one row group and gpg's
own process); VERIFIER_PGP_GIB=1 runs the full 1 GiB file (about two minutes on a busy 2-core
machine; measured peak 237 MiB).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.pgpkeys import PASSPHRASE, Keys, shared_keys

ROW = 1024  # bytes per value: an 8 MiB decode batch is 8192 rows
GROUP_ROWS = 64 * 1024  # 64 MiB row groups
GROUPS = 16 if os.environ.get("VERIFIER_PGP_GIB") == "1" else 4  # 1 GiB or 256 MiB


@pytest.fixture(scope="module")
def keys() -> Keys:
    return shared_keys()


def big_parquet(path: Path) -> int:
    """1 GiB of incompressible values, uncompressed, no dictionary: the ciphertext is as big."""
    buf = random.Random(7).randbytes(ROW * GROUP_ROWS)
    col = pa.FixedSizeBinaryArray.from_buffers(pa.binary(ROW), GROUP_ROWS, [None, pa.py_buffer(buf)])
    table = pa.table({"blob": col})
    with pq.ParquetWriter(path, table.schema, compression="none", use_dictionary=False) as w:
        for _ in range(GROUPS):
            w.write_table(table, row_group_size=GROUP_ROWS)
    return GROUP_ROWS * GROUPS


CHILD = """
import json, resource, sys
from verifier.backends.local import LocalBackend
from verifier.checks.files import check_file
from verifier.config import Destination
from verifier.model import Entry
path, recipient = sys.argv[1], sys.argv[2]
d = Destination(name="enc", type="local", url=sys.argv[3], format="parquet", compression="none",
    encryption="pgp", pgp_recipients=(recipient,), pgp_secrets=json.loads(sys.stdin.read()))
import os
e = Entry(path=path, name=os.path.basename(path), is_dir=False, size=os.path.getsize(path))
fc = check_file(LocalBackend(d), e, "file://" + path, d, "full")
print(json.dumps({"codes": [f.code for f in fc.findings], "rows": fc.result.record_count}))
"""


@pytest.mark.xfail(
    strict=False,
    reason="open question (issue 12): 237 MiB when run alone, 311 MiB after the corpus tests, 768 MiB once in a "
    "full-suite run; the cause (file-backed pages, the Arrow pool, machine memory state) is not found yet",
)
def test_big_encrypted_parquet_decrypts_in_flat_memory(keys: Keys, tmp_path: Path) -> None:
    plain = tmp_path / "plain.parquet"
    rows = big_parquet(plain)
    enc = keys.encrypt(plain, tmp_path / "part-00000-c000.parquet.gpg")
    plain.unlink()
    assert enc.stat().st_size > GROUPS * GROUP_ROWS * ROW
    secrets = json.dumps({"pgp_private_key": keys.dest.private, "pgp_passphrase": PASSPHRASE})
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(enc), keys.dest.subkey, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(secrets.encode())
    proc.stdin.close()
    got = json.loads(proc.stdout.read())
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (gpg runs in its own process)
    assert os.waitstatus_to_exitcode(status) == 0
    assert got == {"codes": [], "rows": rows}
    assert usage.ru_maxrss < 400 * 1024, f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
    print(f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB")
