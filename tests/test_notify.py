"""Notifications (SPEC §10): one message per failed run to a real local webhook through Apprise,
nothing for a clean run with `on = "error"`, findings sent once while open, a heartbeat pinged
after every run with `/fail` on exit 2, and a dead channel never changing the verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fixtures.generate import generate_dataset
from tests.helpers import START, write_config

VERIFIER = [sys.executable, "-m", "verifier"]
HOOK_TOKEN = "hooksecret-4f9a7c2e1b"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                received.append((self.command, self.path, self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts(self, path: str) -> list[dict[str, object]]:
        return [json.loads(body) for method, p, body in self.requests if p == path and method == "POST"]

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _setup(
    tmp_path: Path, receiver: Receiver, on: str = "error", hook_port: int | None = None
) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "exports"
    generate_dataset(folder, dataset_id="ds1", start=START, count=3, seed=5, rows_full=50, rows_incremental=20)
    extra = (
        f'[notify]\non = "{on}"\n[notify.secrets]\nurls = ["${{HOOK_URL}}"]\nheartbeat = "${{HEARTBEAT_URL}}"\n'
        '[service]\npublic_url = "https://verifier.example.net"\n'
    )
    cfg = write_config(
        tmp_path, [{"name": "local", "type": "local", "url": str(folder), "stale_after": "3650d"}], extra
    )
    env = {
        "HOOK_URL": f"json://127.0.0.1:{hook_port or receiver.port}/hook?token={HOOK_TOKEN}",
        "HEARTBEAT_URL": f"http://127.0.0.1:{receiver.port}/ping/abc",
    }
    return cfg, env


def _run(cfg: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VERIFIER, "run", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def _truncate_first_data_file(tmp_path: Path) -> Path:
    victim = sorted((tmp_path / "exports").glob("ds1/exportTime=*/*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    return victim


def test_clean_run_sends_nothing_and_pings_the_heartbeat(tmp_path: Path, receiver: Receiver) -> None:
    cfg, env = _setup(tmp_path, receiver)
    r = _run(cfg, env)
    assert r.returncode == 0, r.stderr
    assert receiver.posts("/hook") == []
    assert receiver.paths() == ["/ping/abc"]


def test_failed_run_posts_one_message_root_cause_first_then_only_new(tmp_path: Path, receiver: Receiver) -> None:
    cfg, env = _setup(tmp_path, receiver)
    assert _run(cfg, env).returncode == 0
    _truncate_first_data_file(tmp_path)
    r = _run(cfg, env)
    assert r.returncode == 2, r.stdout + r.stderr
    posts = receiver.posts("/hook")
    assert len(posts) == 1
    msg = posts[0]
    assert msg["type"] == "failure"
    assert str(msg["title"]).startswith("verifier run 2: BROKEN")
    body = str(msg["message"])
    lines = body.splitlines()
    # the file's own findings first (changed, then what its bytes show), the broken chain under them
    cause = next(i for i, line in enumerate(lines) if "ERROR file.changed" in line)
    assert "ds1/exportTime=" in lines[cause] and "file://" not in lines[cause]  # relative to the destination
    assert any("↳ manifest.size_mismatch" in line for line in lines[cause + 1 :])
    assert any("↳ parquet.corrupt" in line for line in lines[cause + 1 :])
    chain = [i for i, line in enumerate(lines) if "restore.chain_broken" in line]
    assert chain and all(i > cause for i in chain)
    assert "Dashboard: https://verifier.example.net/" in body
    assert HOOK_TOKEN not in body
    assert receiver.paths()[-1] == "/ping/abc/fail"

    # the same findings, still open, are not sent again; the heartbeat still says "fail"
    assert _run(cfg, env).returncode == 2
    assert len(receiver.posts("/hook")) == 1
    assert receiver.paths()[-1] == "/ping/abc/fail"


def test_a_dead_channel_is_logged_and_never_changes_the_verdict(tmp_path: Path, receiver: Receiver) -> None:
    dead = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = dead.server_address[1]
    dead.server_close()  # nothing listens there now
    cfg, env = _setup(tmp_path, receiver, hook_port=port)
    _truncate_first_data_file(tmp_path)
    r = _run(cfg, env)
    assert r.returncode == 2
    assert "notification channel 1 of 1 (json://) failed" in r.stderr
    assert HOOK_TOKEN not in r.stderr + r.stdout
    assert receiver.paths() == ["/ping/abc/fail"]


def test_on_always_reports_a_clean_run(tmp_path: Path, receiver: Receiver) -> None:
    cfg, env = _setup(tmp_path, receiver, on="always")
    assert _run(cfg, env).returncode == 0
    (msg,) = receiver.posts("/hook")
    assert str(msg["title"]).startswith("verifier run 1: ok — 0 errors, 0 warnings")


def test_notify_config_is_validated(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    dest = [{"name": "local", "type": "local", "url": str(folder)}]
    cases = [
        ('[notify]\non = "sometimes"\n', {}, "notify.on: 'sometimes': use one of error, warning, always"),
        (
            '[notify.secrets]\nurls = ["slack://literal"]\n',
            {},
            "notify.secrets.urls[0]: must be an environment reference",
        ),
        (
            '[notify.secrets]\nurls = ["${NOPE_URL}"]\n',
            {"NOPE_URL": "nosuch://x"},
            "not a notification URL Apprise knows (scheme 'nosuch')",
        ),
        (
            '[notify.secrets]\nheartbeat = "${HB}"\n',
            {"HB": ""},
            "notify.secrets.heartbeat: environment variable HB is empty",
        ),
    ]
    for extra, env, expected in cases:
        cfg = write_config(tmp_path, dest, extra)
        r = subprocess.run(
            [*VERIFIER, "run", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
        )
        assert r.returncode == 4, (extra, r.stderr)
        assert expected in r.stderr, (extra, r.stderr)


def test_a_deeper_re_read_is_new_nowhere(tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three nights, the second re-reading every export at a deeper level (which records each finding
    anew): the findings stay those of run 1 for the CLI's marks, the service's log line and
    `only_new`, as for the view open_findings (issue 14: all five were marked [new] after the demo)."""
    from verifier import config as cfgmod
    from verifier.notify import after_run
    from verifier.report import run_log_line
    from verifier.testing.runs import do_run, sql

    cfg_path, env = _setup(tmp_path, receiver)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    _truncate_first_data_file(tmp_path)
    cfg = cfgmod.load(cfg_path)
    lines = []
    for level in ("metadata", "full", "metadata"):
        summary = do_run(cfg, level=level)
        assert summary.exit_code == 2
        after_run(cfg.notify, cfg.catalog_path, summary)
        lines.append(run_log_line(summary).rsplit(";", 1)[0])
    assert lines == [
        "run 1 completed: exit 2 (at least one error finding); 3 errors, 0 warnings, 0 infos; "
        "3 new (manifest.size_mismatch x1, parquet.corrupt x1, restore.chain_broken x1)",
        "run 2 completed: exit 2 (at least one error finding); 3 errors, 0 warnings, 0 infos; 0 new",
        "run 3 completed: exit 2 (at least one error finding); 3 errors, 0 warnings, 0 infos; 0 new",
    ]
    assert len(receiver.posts("/hook")) == 1  # sent after run 1, not again after the re-read
    assert sql(cfg, "SELECT DISTINCT first_run_id FROM open_findings") == [(1,)]
    r = subprocess.run(
        [*VERIFIER, "findings", "--last", "--config", str(cfg_path)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    marks = [line.rsplit("  ", 1)[1] for line in r.stdout.splitlines() if line.startswith("ERROR")]
    assert marks == ["[open since run 1]"]  # one cause: the file, with what follows from it under it


def test_a_run_of_other_datasets_does_not_make_open_findings_new_again(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`only_new` keeps what is open as open_findings says: a run limited to ds2 leaves ds1's
    findings open, so the next full run does not send them again (it did: 2 messages)."""
    from verifier import config as cfgmod
    from verifier.notify import after_run
    from verifier.testing.runs import do_run

    folder = tmp_path / "exports"
    generate_dataset(folder, dataset_id="ds2", start=START, count=2, seed=6, rows_full=30, rows_incremental=10)
    cfg_path, env = _setup(tmp_path, receiver)  # ds1, beside ds2
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    _truncate_first_data_file(tmp_path)
    cfg = cfgmod.load(cfg_path)
    sent = []
    for datasets in ([], ["ds2"], []):
        summary = do_run(cfg, datasets=datasets)
        after_run(cfg.notify, cfg.catalog_path, summary)
        sent.append(len(receiver.posts("/hook")))
    assert sent == [1, 1, 1]
