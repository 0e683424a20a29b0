"""A big encrypted Parquet export is checked at full level, decrypted, in flat memory.

`make test` uses 256 MiB (the peak does not depend on the size: blocks, one row group and gpg's
own process); VERIFIER_PGP_GIB=1 runs the full 1 GiB file (about a minute on a busy 2-core
machine). Measured on 2026-12-01 (load 6-9): the checking process 73 MiB before the check, peak
192 MiB for 256 MiB and 195 MiB for 1 GiB (+119 / +122 MiB); gpg 5 MiB.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.pgpkeys import PASSPHRASE, Keys, shared_keys

ROW = 1024  # bytes per value: an 8 MiB decode batch is 8192 rows
GROUP_ROWS = 64 * 1024  # 64 MiB row groups
MiB = 1024 * 1024
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
import json, os, sys
import gnupg, pyarrow.parquet, duckdb  # what a worker has imported before its first file
from verifier.backends.local import LocalBackend
from verifier.checks.files import check_file
from verifier.config import Destination
from verifier.model import Entry

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmHWM", "RssAnon", "RssFile")}

path, recipient = sys.argv[1], sys.argv[2]
d = Destination(name="enc", type="local", url=sys.argv[3], format="parquet", compression="none",
    encryption="pgp", pgp_recipients=(recipient,), pgp_secrets=json.loads(sys.stdin.read()))
e = Entry(path=path, name=os.path.basename(path), is_dir=False, size=os.path.getsize(path))
before = status()  # the interpreter, pyarrow, python-gnupg: what any check starts from
fc = check_file(LocalBackend(d), e, "file://" + path, d, "full")
print(json.dumps({"codes": [f.code for f in fc.findings], "rows": fc.result.record_count,
                  "before": before, "after": status()}))
"""


def _hwm(pid: int) -> int:
    """A process's own peak resident size (VmHWM, bytes); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def test_big_encrypted_parquet_decrypts_in_flat_memory(keys: Keys, tmp_path: Path) -> None:
    """Measured per process, from /proc/<pid>/status: the checking process's VmHWM (its own
    peak since its exec) and gpg's. Not wait4()'s ru_maxrss: Linux carries a process's high-water
    mark across execve, so a child's ru_maxrss starts at its parent's peak at fork time — pytest's
    peak (237 MiB after writing this test's file, 768 MiB late in a full-suite run), not the check's."""
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
    gpg_peak: dict[int, int] = {}
    with ThreadPoolExecutor(1) as ex:
        out = ex.submit(proc.stdout.read)
        me = psutil.Process(proc.pid)
        while not out.done():  # VmHWM only grows: the last reading before gpg exits is its peak
            with contextlib.suppress(psutil.Error):
                for child in me.children(recursive=True):
                    if child.name() == "gpg":
                        gpg_peak[child.pid] = max(gpg_peak.get(child.pid, 0), _hwm(child.pid))
            time.sleep(0.05)
        got = json.loads(out.result())
    assert proc.wait() == 0
    before, after = got.pop("before"), got.pop("after")
    assert got == {"codes": [], "rows": rows}
    grew = after["VmHWM"] - before["VmHWM"]
    print(
        f"checking process: peak {after['VmHWM'] / MiB:.0f} MiB ({before['VmHWM'] / MiB:.0f} MiB before the check, "
        f"+{grew / MiB:.0f} MiB; now RssAnon {after['RssAnon'] / MiB:.0f}, RssFile {after['RssFile'] / MiB:.0f} MiB); "
        f"gpg peak {max(gpg_peak.values(), default=0) / MiB:.0f} MiB"
    )
    assert gpg_peak, "gpg was not seen decrypting"
    # a 64 MiB row group pre-buffered and decoded, 8 MiB blocks in flight, whatever the file's size;
    # holding the file (256 MiB at least) would not fit
    assert grew < 192 * MiB, f"the check grew the process by {grew / MiB:.0f} MiB"
    assert after["VmHWM"] < 320 * MiB
    assert max(gpg_peak.values()) < 64 * MiB
