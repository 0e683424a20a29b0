"""Run one command as a child process and measure it: wall time, CPU time (os.wait4's rusage of that
child and its descendants) and peak RSS.

Peak RSS comes from GNU time (``/usr/bin/time -f %M``) when it is installed: a child forked from this
Python process reports at least this process's RSS at fork time (~120 MB with pyarrow loaded) as its
ru_maxrss even after exec, which would hide a small tool's real footprint. GNU time is small, so the
child it forks reports its own peak. Without it, wait4's figure is used (an upper bound)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Measurement:
    name: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    files: int = 0
    bytes: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def files_per_s(self) -> float:
        return self.files / self.wall_s if self.wall_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.wall_s if self.wall_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["files_per_s"] = round(self.files_per_s, 1)
        d["mb_per_s"] = round(self.mb_per_s, 1)
        return d


class CommandFailed(RuntimeError):
    pass


def run(
    name: str,
    argv: list[str] | str,
    *,
    env: dict[str, str | None] | None = None,
    files: int = 0,
    nbytes: int = 0,
    ok_codes: tuple[int, ...] = (0,),
    shell: bool = False,
    cwd: Path | None = None,
    note: str = "",
) -> Measurement:
    """Run ``argv`` to completion; its output goes to a temp file, shown only if it fails."""
    full_env = {**os.environ, **(env or {})}
    for k in [k for k, v in full_env.items() if v is None]:
        del full_env[k]  # None: unset it for this command
    if shell:  # a pipeline fails when any part fails
        argv, shell = ["bash", "-o", "pipefail", "-c", argv if isinstance(argv, str) else shlex.join(argv)], False
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    fd, rss_path = tempfile.mkstemp(prefix="bench-rss-")
    os.close(fd)
    if gnu_time:
        argv = [gnu_time, "-q", "-f", "%M", "-o", rss_path, *([argv] if isinstance(argv, str) else argv)]
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,  # type: ignore[arg-type]
            shell=shell,
            cwd=cwd,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in ok_codes:
            out.seek(0)
            tail = out.read()[-3000:].decode(errors="replace")
            cmd = argv if isinstance(argv, str) else shlex.join(argv)
            raise CommandFailed(f"{name}: `{cmd}` exited {proc.returncode}:\n{tail}")
    rss_kb = usage.ru_maxrss
    try:
        text = Path(rss_path).read_text().strip().splitlines()
        rss_kb = int(text[-1]) if gnu_time and text else rss_kb
    except (OSError, ValueError):
        pass
    finally:
        os.unlink(rss_path)
    return Measurement(
        name=name,
        wall_s=round(wall, 3),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mb=round(rss_kb / 1024, 1),
        exit_code=proc.returncode,
        files=files,
        bytes=nbytes,
        note=note,
        extra={"written_kb": usage.ru_oublock // 2},  # file system writes (512-byte blocks) of the command
    )


def python(name: str, code: str, *args: str, **kw: Any) -> Measurement:
    """Run a Python snippet in a fresh interpreter (the venv's), measured like any other command."""
    return run(name, [sys.executable, "-c", code, *args], **kw)


def best_of(n: int, fn: Any) -> Measurement:
    """The fastest of ``n`` runs (the others are warm-up / noise), with the peak RSS of all."""
    runs = [fn() for _ in range(max(1, n))]
    best = min(runs, key=lambda m: m.wall_s)
    best.peak_rss_mb = max(m.peak_rss_mb for m in runs)
    if n > 1:
        best.extra["runs_s"] = [m.wall_s for m in runs]
    return best
