"""The Flow Service client against the fake IMS + Flow Service: tokens, paging, retries, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from verifier.aep.client import AepError, AepUnavailable, FlowServiceClient
from verifier.aep.settings import AepSettings
from verifier.testing.aep_fake import FakeAep, Switches, serve

START = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[tuple[FakeAep, str]]:
    f = FakeAep()
    f.add_flow("flow-1", {"5ef3e324052581191aa6a466": "Events"}, start=START)
    with serve(f) as url:
        yield f, url


def client(url: str, fake: FakeAep, clock: list[float] | None = None, **kw: object) -> FlowServiceClient:
    settings = AepSettings(
        org_id=fake.org_id,
        client_id=fake.client_id,
        client_secret=str(kw.pop("secret", fake.client_secret)),
        platform_url=url,
        ims_url=f"{url}/ims/token/v3",
        backoff_s=0.01,
        **kw,  # type: ignore[arg-type]
    )
    return FlowServiceClient(settings, clock=(lambda: clock[0]) if clock else time.monotonic)


def test_one_token_is_reused_until_it_expires(fake: tuple[FakeAep, str]) -> None:
    f, url = fake
    now = [1000.0]
    with client(url, f, now) as c:
        for _ in range(3):
            c.get("/flows/flow-1")
        assert f.token_requests == 1
        now[0] += f.token_ttl_s  # past expires_in (less the renewal margin)
        c.get("/flows/flow-1")
        assert f.token_requests == 2


def test_expires_in_in_milliseconds_is_understood(fake: tuple[FakeAep, str]) -> None:
    f, url = fake
    f.switches = Switches(expires_in_unit="ms")
    now = [0.0]
    with client(url, f, now) as c:
        c.get("/flows/flow-1")
        now[0] += 3600
        c.get("/flows/flow-1")  # 86399000 read as ms is a day, not 2.7 years: still cached
        assert f.token_requests == 1
        now[0] += 86400
        c.get("/flows/flow-1")
        assert f.token_requests == 2


def test_a_revoked_token_is_renewed_once_on_401(fake: tuple[FakeAep, str]) -> None:
    f, url = fake
    with client(url, f) as c:
        c.get("/flows/flow-1")
        f.expire_tokens()
        assert c.get("/flows/flow-1")["items"][0]["id"] == "flow-1"
        assert f.token_requests == 2


def test_429_waits_for_retry_after(fake: tuple[FakeAep, str]) -> None:
    f, url = fake
    with client(url, f) as c:
        c.token()
        f.faults = [(429, "1")]
        t0 = time.monotonic()
        assert c.get("/flows/flow-1")["items"][0]["id"] == "flow-1"
        assert time.monotonic() - t0 >= 1.0


def test_5xx_is_retried_then_reported_with_what_to_check(fake: tuple[FakeAep, str]) -> None:
    f, url = fake
    with client(url, f) as c:
        c.token()
        f.faults = [(503, None), (500, None)]
        assert c.get("/flows/flow-1")["items"][0]["id"] == "flow-1"
        f.faults = [(502, None)] * 4
        with pytest.raises(AepUnavailable, match=r"GET /flows/flow-1: HTTP 502 after 4 attempts.*platform_url"):
            c.get("/flows/flow-1")


def test_nothing_listening_is_unavailable_not_a_crash() -> None:
    f = FakeAep()
    c = client("http://127.0.0.1:9", f, attempts=2)
    with pytest.raises(AepUnavailable, match="IMS token request: ConnectError"):
        c.get("/flows")


def test_paging_follows_links_and_tokens_100_at_most(fake: tuple[FakeAep, str]) -> None:
    f, url = fake
    for i in range(7):
        f.add_run("flow-1", datetime(2026, 11, 2 + i, 6, 5, tzinfo=UTC))
    f.add_run("flow-2", datetime(2026, 11, 2, 6, 5, tzinfo=UTC))
    f.page_size = 3
    for switches in (
        Switches(),
        Switches(paging="token"),
        Switches(next_href_absolute=True, next_href_keeps_filters=False),
    ):
        f.switches = switches
        with client(url, f) as c:
            items = list(c.pages("/runs", [("property", "flowId==flow-1")]))
        assert len(items) == 7 and {i["flowId"] for i in items} == {"flow-1"}
    assert all("limit=100" in q for m, q in f.requests if q.startswith("/data/foundation/flowservice/runs"))


def test_bad_credentials_say_what_to_fix_and_never_show_the_secret(fake: tuple[FakeAep, str]) -> None:
    f, url = fake
    with client(url, f, secret="s3cr3t-wrong-value") as c:
        with pytest.raises(AepError) as info:
            c.get("/flows/flow-1")
        assert "client_id and client_secret" in str(info.value)
        assert "s3cr3t-wrong-value" not in str(info.value) + repr(c) + repr(c.settings)


def test_unknown_flow_and_denied_sandbox_are_terminal(fake: tuple[FakeAep, str]) -> None:
    f, url = fake
    with client(url, f) as c, pytest.raises(AepError, match="check the flow id"):
        c.get("/flows/nope")
    with client(url, f, sandbox="dev") as c, pytest.raises(AepError, match=r"HTTP 403.*sandbox 'dev'"):
        c.get("/flows/flow-1")
