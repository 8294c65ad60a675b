"""Monitors: creation and its refusals, firing, webhook delivery with retries, the
on-alert action, and the scheduler's claim (one run per due monitor)."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.clock import now_ms
from llmops.errors import Conflict, InvalidInput, NotFound
from llmops.monitoring.actions import _STARTED
from llmops.monitoring.models import MonitorSpec
from llmops.monitoring.monitors import MonitorStore
from llmops.monitoring.scheduler import MonitorScheduler
from llmops.monitoring.webhooks import WebhookRefused
from llmops.workspace import Workspace
from tests.helpers import table_counts
from tests.monitoring.conftest import Receiver
from tests.monitoring.traffic import insert_traces, make_trace

PIPELINE = """
datasets: [{name: fixes, kind: sft, where: route == "travel"}]
train: {recipe: sft, base: model:travel@production, data: "${datasets.fixes}", lora: true}
"""


@pytest.fixture
def fast(workspace: Workspace) -> Workspace:
    workspace.settings.webhook_backoff_s = 0.0
    workspace.settings.webhook_attempts = 3
    return workspace


def failing_traffic(workspace: Workspace, *, n: int = 40, failed: int = 10) -> int:
    now = now_ms()
    rng = random.Random(5)
    insert_traces(workspace, [make_trace(rng, now - 1000 - i, status=500 if i < failed else 200)
                              for i in range(n)])
    return now


def errors_monitor(url: str | None, **extra: Any) -> MonitorSpec:
    return MonitorSpec(name="errors", check="errors", model="travel", threshold=0.1,
                       every="1h", alert=f"webhook:{url}" if url else None, **extra)


def test_a_firing_monitor_stores_the_alert_and_posts_it(fast: Workspace,
                                                        receiver: Receiver) -> None:
    store = MonitorStore(fast)
    monitor = store.create(errors_monitor(receiver.url))
    assert monitor.options == {"model": "travel", "threshold": 0.1}
    assert monitor.every_s == 3600 and monitor.alert == f"webhook:{receiver.url}"
    failing_traffic(fast)
    result = store.run("errors")
    assert result.fired
    assert result.summary == "errors on model:travel: 10 of 40 requests (25.0%) over the " \
                             "10.0% limit"
    alert = result.alert
    assert alert is not None and alert.delivery == "delivered" and alert.attempts == 1
    assert alert.severity == "critical"  # more than twice the limit
    [body] = receiver.bodies
    assert body["id"] == alert.id and body["monitor"] == "errors" and body["check"] == "errors"
    assert body["details"]["errors"] == 10 and body["summary"] == result.summary
    assert store.alerts() == [alert]
    assert store.get("errors").last_run_at is not None


def test_a_quiet_monitor_raises_nothing(fast: Workspace, receiver: Receiver) -> None:
    store = MonitorStore(fast)
    store.create(errors_monitor(receiver.url))
    failing_traffic(fast, failed=1)
    result = store.run("errors")
    assert not result.fired and result.alert is None
    assert store.alerts() == [] and receiver.attempts == 0


def test_a_failing_receiver_is_retried_and_every_attempt_recorded(
        fast: Workspace, receiver: Receiver) -> None:
    store = MonitorStore(fast)
    store.create(errors_monitor(receiver.url))
    failing_traffic(fast)
    receiver.failures = 2  # 500, 500, then 204
    alert = store.run("errors").alert
    assert alert is not None
    assert (alert.delivery, alert.attempts, alert.last_error) == ("delivered", 3, None)
    assert receiver.attempts == 3 and len(receiver.bodies) == 1


def test_an_alert_the_receiver_never_takes_is_kept_as_failed(
        fast: Workspace, receiver: Receiver) -> None:
    store = MonitorStore(fast)
    store.create(errors_monitor(receiver.url))
    failing_traffic(fast)
    receiver.failures = 100
    alert = store.run("errors").alert
    assert alert is not None
    assert (alert.delivery, alert.attempts, alert.last_error) == (
        "failed", 3, "HTTP 500 from the webhook")
    assert store.alerts()[0].id == alert.id  # stored before delivery, kept after


def test_a_client_error_is_not_retried(fast: Workspace, receiver: Receiver) -> None:
    store = MonitorStore(fast)
    store.create(errors_monitor(receiver.url))
    failing_traffic(fast)
    receiver.failures, receiver.fail_status = 100, 404
    alert = store.run("errors").alert
    assert alert is not None and (alert.delivery, alert.attempts) == ("failed", 1)


def test_a_private_webhook_is_refused_while_allowed_hosts_are_set(fast: Workspace) -> None:
    fast.settings.webhook_allowed_hosts = "hooks.example.com"
    store = MonitorStore(fast)
    before = table_counts(fast.store)
    for url, address in [("http://10.1.2.3/hook", "10.1.2.3"),
                         ("http://172.16.0.9:8080/hook", "172.16.0.9"),
                         ("https://192.168.1.20/x", "192.168.1.20"),
                         ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
                         ("http://[fd00::1]/hook", "fd00::1"),
                         ("http://[::ffff:10.0.0.1]/hook", "10.0.0.1")]:
        with pytest.raises(WebhookRefused) as caught:
            store.create(errors_monitor(url))
        assert caught.value.detail == (
            f"webhook URL {url} points at a private address ({address}), and "
            "LLMOPS_WEBHOOK_ALLOWED_HOSTS does not allow it: add that address or its network "
            "(e.g. 10.0.0.0/8) to LLMOPS_WEBHOOK_ALLOWED_HOSTS, or use a public or loopback "
            "host")
        assert caught.value.status == 400
    with pytest.raises(WebhookRefused, match="webhook host 'elsewhere.example.org' is not "
                                             "in LLMOPS_WEBHOOK_ALLOWED_HOSTS"):
        store.create(errors_monitor("https://elsewhere.example.org/hook"))
    assert table_counts(fast.store) == before
    # a listed network makes a private address acceptable; loopback always is
    fast.settings.webhook_allowed_hosts = "hooks.example.com, 10.0.0.0/8"
    store.create(errors_monitor("http://10.1.2.3/hook"))
    store.remove("errors")
    store.create(errors_monitor("http://127.0.0.1:9/hook"))


def test_without_allowed_hosts_a_private_webhook_is_accepted(fast: Workspace) -> None:
    assert MonitorStore(fast).create(errors_monitor("http://10.1.2.3/hook")).alert == \
        "webhook:http://10.1.2.3/hook"


def test_the_host_is_checked_again_at_delivery(fast: Workspace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.monitoring import webhooks

    fast.settings.webhook_allowed_hosts = "hooks.example.com"
    answers = {"hooks.example.com": [ipaddress.ip_address("93.184.216.34")]}
    monkeypatch.setattr(webhooks, "resolve", lambda host: answers[host])
    store = MonitorStore(fast)
    store.create(errors_monitor("https://hooks.example.com/llmops"))
    answers["hooks.example.com"] = [ipaddress.ip_address("10.0.0.7")]  # DNS moved inside
    failing_traffic(fast)
    alert = store.run("errors").alert
    assert alert is not None and (alert.delivery, alert.attempts) == ("failed", 1)
    assert alert.last_error is not None and alert.last_error.startswith(
        "webhook URL https://hooks.example.com/llmops points at a private address (10.0.0.7)")


@pytest.mark.parametrize(("changes", "message"), [
    ({"name": "Bad Name"}, "invalid monitor name 'Bad Name'"),
    ({"check": "vibes"}, "invalid monitor: check: Input should be 'drift', 'feedback', "
                         "'latency', 'errors' or 'abuse'"),
    ({"model": None}, "--check errors needs --model NAME or --route R"),
    ({"every": "soon"}, "--every: invalid duration 'soon'"),
    ({"threshold": 2.0}, "--threshold 2 for --check errors must be the highest acceptable "
                         "error rate in (0, 1)"),
    ({"alert": "email:ops@example.com"}, "invalid alert target 'email:ops@example.com'"),
    ({"alert": "webhook:ftp://example.com/x"}, "invalid webhook URL 'ftp://example.com/x'"),
    ({"alert": "webhook:https://u:p@example.com/x"}, "invalid webhook URL "
                                                     "'https://u:p@example.com/x': credentials"),
    ({"on_alert": "deploy:x.yaml"}, "invalid --on-alert 'deploy:x.yaml': use "
                                    "retrain:PIPELINE.yaml"),
    ({"on_alert": "retrain:/nonexistent/p.yaml"}, "invalid --on-alert "
                                                  "'retrain:/nonexistent/p.yaml': no pipeline "
                                                  "file /nonexistent/p.yaml"),
    ({"reference": "dataset:x@1"}, "--reference dataset:REF is for drift monitors only"),
])
def test_bad_monitors_are_refused_with_nothing_stored(workspace: Workspace,
                                                      changes: dict[str, Any],
                                                      message: str) -> None:
    spec = {"name": "errors", "check": "errors", "model": "travel", "every": "1h", **changes}
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput) as caught:
        MonitorStore(workspace).create(spec)
    assert caught.value.detail.startswith(message), caught.value.detail
    assert table_counts(workspace.store) == before


def test_names_are_unique_and_remove_keeps_alerts(fast: Workspace) -> None:
    store = MonitorStore(fast)
    store.create(errors_monitor(None))
    with pytest.raises(Conflict, match="monitor errors exists"):
        store.create(errors_monitor(None))
    failing_traffic(fast)
    alert = store.run("errors").alert
    assert alert is not None and alert.delivery == "none"
    store.remove("errors")
    assert store.list() == [] and store.alerts()[0].id == alert.id
    with pytest.raises(NotFound, match="no monitor 'errors'; monitors: none"):
        store.remove("errors")


def test_the_on_alert_action_starts_the_retrain_pipeline(fast: Workspace,
                                                         tmp_path: Path) -> None:
    pipeline = tmp_path / "retrain.yaml"
    pipeline.write_text("steps: []\n")
    store = MonitorStore(fast)
    with pytest.raises(InvalidInput, match="invalid pipeline .*train: Field required"):
        store.create(errors_monitor(None, on_alert=f"retrain:{pipeline}"))
    pipeline.write_text(PIPELINE)
    monitor = store.create(errors_monitor(None, on_alert=f"retrain:{pipeline}"))
    assert monitor.on_alert == f"retrain:{pipeline.resolve()}"
    failing_traffic(fast)
    alert = store.run("errors").alert
    assert alert is not None and alert.action is not None
    assert {k: alert.action[k] for k in ("action", "pipeline", "status", "alert")} == {
        "action": "retrain", "pipeline": str(pipeline.resolve()), "status": "started",
        "alert": alert.id}
    _STARTED[alert.action["pid"]].wait(60)  # the failing traffic has no feedback to train on
    assert "no sft rows" in Path(alert.action["log"]).read_text()


def test_the_scheduler_runs_a_due_monitor_once(fast: Workspace, receiver: Receiver) -> None:
    MonitorStore(fast).create(errors_monitor(receiver.url))
    failing_traffic(fast)
    now = now_ms()
    # two server processes look at the same moment: one claims, the other finds nothing
    first, second = MonitorScheduler(fast, tick_s=30), MonitorScheduler(fast, tick_s=30)
    results = first.tick(now) + second.tick(now)
    assert [r.monitor for r in results] == ["errors"] and results[0].fired
    assert len(receiver.bodies) == 1 and len(MonitorStore(fast).alerts()) == 1
    # not due again until the period has passed
    assert first.tick(now + 3_599_000) == []
    assert [r.monitor for r in second.tick(now + 3_600_000)] == ["errors"]


def test_a_disabled_or_broken_monitor_does_not_stop_the_others(
        fast: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.monitoring import checks

    store = MonitorStore(fast)
    store.create(errors_monitor(None))
    store.create(MonitorSpec(name="slow", check="latency", model="travel", threshold=100))
    store.create(MonitorSpec(name="off", check="errors", model="travel", enabled=False))
    failing_traffic(fast)

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(checks.CHECKS, "latency", broken)
    results = MonitorScheduler(fast, tick_s=30).tick()
    assert [r.monitor for r in results] == ["errors"]


def test_the_cli_creates_lists_runs_and_shows_alerts(fast: Workspace,
                                                     receiver: Receiver) -> None:
    import json

    from llmops.cli.app import app

    runner = CliRunner()
    failing_traffic(fast)
    result = runner.invoke(app, ["monitor", "create", "errs", "--check", "errors", "--model",
                                 "travel", "--threshold", "0.1", "--every", "1h", "--alert",
                                 f"webhook:{receiver.url}", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "errs"
    listed = json.loads(runner.invoke(app, ["monitor", "list", "--json"]).stdout)
    assert [m["name"] for m in listed] == ["errs"]
    ran = runner.invoke(app, ["monitor", "run", "errs", "--json"])
    assert ran.exit_code == 0 and json.loads(ran.stdout)["fired"] is True
    alerts = json.loads(runner.invoke(app, ["monitor", "alerts", "--json"]).stdout)
    assert [(a["monitor"], a["delivery"]) for a in alerts] == [("errs", "delivered")]
    assert runner.invoke(app, ["monitor", "remove", "errs"]).exit_code == 0


def test_the_cli_refuses_bad_input_with_exit_1(fast: Workspace) -> None:
    import subprocess
    import sys

    env = {**__import__("os").environ, "LLMOPS_WEBHOOK_ALLOWED_HOSTS": "hooks.example.com"}
    done = subprocess.run([sys.executable, "-m", "llmops", "monitor", "create", "m", "--check",
                           "errors", "--model", "travel", "--alert",
                           "webhook:http://10.0.0.5/hook"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "points at a private address (10.0.0.5)" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_alert_left_pending_by_a_stopped_process_is_delivered_once(
        fast: Workspace, receiver: Receiver) -> None:
    from sqlalchemy import insert

    from llmops.monitoring.monitors import STALE_DELIVERY_MS
    from llmops.store.tables import alerts

    created = now_ms() - STALE_DELIVERY_MS - 1000
    fast.store.write(lambda conn: conn.execute(insert(alerts), {
        "id": "01JD000000000000000000ALRT", "monitor": "errors", "check": "errors",
        "created_at": created, "severity": "warning", "summary": "errors on model:travel",
        "details": "{}", "target": receiver.url, "delivery": "pending", "attempts": 1,
        "last_error": None, "delivered_at": None, "claimed_at": created, "action": None}))
    first, second = MonitorScheduler(fast, tick_s=30), MonitorScheduler(fast, tick_s=30)
    now = now_ms()
    first.tick(now)
    second.tick(now)
    assert [b["id"] for b in receiver.bodies] == ["01JD000000000000000000ALRT"]
    [alert] = MonitorStore(fast).alerts()
    assert (alert.delivery, alert.attempts) == ("delivered", 2)


def test_a_fresh_pending_alert_is_left_to_the_process_delivering_it(
        fast: Workspace, receiver: Receiver) -> None:
    from sqlalchemy import insert

    from llmops.store.tables import alerts

    now = now_ms()
    fast.store.write(lambda conn: conn.execute(insert(alerts), {
        "id": "01JD000000000000000000ALRT", "monitor": "errors", "check": "errors",
        "created_at": now, "severity": "warning", "summary": "s", "details": "{}",
        "target": receiver.url, "delivery": "pending", "attempts": 0, "claimed_at": now}))
    MonitorScheduler(fast, tick_s=30).tick(now + 1000)
    assert receiver.bodies == []
