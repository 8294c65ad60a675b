"""Monitors: a check on a schedule, with an alert target and an optional action.

A run evaluates the check (monitoring/checks.py); when it fires, the alert is stored
first (delivery ``pending``), then POSTed to the webhook with retries, every attempt
recorded on the alert, then the on-alert action runs and what it did is stored too.
An alert a stopped process left ``pending`` is delivered by the next scheduler tick
after `STALE_DELIVERY_MS` (claimed like a monitor), so a crash mid-delivery loses none;
a receiver may then see an alert twice and can tell by its ``id``.

Scheduling across processes: `claim_due` takes a due monitor with an UPDATE guarded by
the `last_run_at` it read (``... WHERE name = :n AND last_run_at IS :seen``); of several
server processes (PostgreSQL) that see the same due monitor, exactly one updates the row
and runs it.
"""

from __future__ import annotations

import builtins
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, delete, insert, or_, select, update

from llmops.auth import audit
from llmops.clock import now_ms, parse_duration
from llmops.errors import Conflict, InvalidInput, NotFound
from llmops.ids import new_id
from llmops.monitoring.actions import parse_action, run_on_alert
from llmops.monitoring.checks import Outcome, evaluate
from llmops.monitoring.models import Alert, Monitor, MonitorResult, MonitorSpec
from llmops.monitoring.webhooks import check_webhook, deliver, webhook_url
from llmops.refs import check_name
from llmops.store.tables import alerts, monitors
from llmops.workspace import Workspace

log = logging.getLogger("llmops.monitoring")

# A pending alert untouched this long was left by a process that stopped mid-delivery
# (a delivery's tries and backoff take well under a minute with the defaults).
STALE_DELIVERY_MS = 5 * 60_000

_THRESHOLDS: dict[str, tuple[float, float, str]] = {
    "drift": (0.0, 1.0, "a significance level in (0, 1), e.g. 0.01"),
    "feedback": (1.0, 5.0, "the lowest acceptable mean score, 1-5"),
    "latency": (0.0, float("inf"), "a p95 latency limit in ms, above 0"),
    "errors": (0.0, 1.0, "the highest acceptable error rate in (0, 1)"),
    "abuse": (1.0, float("inf"), "a request-rate jump ratio above 1, e.g. 3"),
}


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"field": field, "message": message}])


def validate_spec(workspace: Workspace, spec: MonitorSpec, *,
                  action_root: Path | None = None) -> dict[str, Any]:
    """Check everything about a monitor before anything is stored; the row to insert."""
    from llmops.traces.query import duration_ms

    check_name(spec.name, what="monitor name")
    if spec.check != "abuse" and not (spec.model or spec.route):
        raise _bad("model", f"--check {spec.check} needs --model NAME or --route R")
    try:
        every_s = parse_duration(spec.every)
    except InvalidInput as exc:
        raise _bad("every", f"--every: {exc.detail}") from None
    for field_name in ("window", "reference_window"):
        value = getattr(spec, field_name)
        if value is not None:
            try:
                duration_ms(value)
            except InvalidInput as exc:
                raise _bad(field_name, f"--{field_name.replace('_', '-')}: {exc.detail}") \
                    from None
    if spec.reference is not None:
        if spec.check != "drift":
            raise _bad("reference", "--reference dataset:REF is for drift monitors only")
        if spec.reference_window is not None:
            raise _bad("reference", "give either --reference or --reference-window, not both")
        from llmops.datasets.rows import open_version

        if not spec.reference.startswith("dataset:"):
            raise _bad("reference", f"invalid reference {spec.reference!r}: use "
                                    "dataset:NAME@VERSION")
        open_version(workspace, spec.reference)  # NotFound names the candidates
    if spec.threshold is not None:
        low, high, what = _THRESHOLDS[spec.check]
        ok = low < spec.threshold < high if spec.check in ("drift", "errors") else \
            low <= spec.threshold <= high if spec.check == "feedback" else \
            spec.threshold > low
        if not ok:
            raise _bad("threshold", f"--threshold {spec.threshold:g} for --check "
                                    f"{spec.check} must be {what}")
    alert = None
    if spec.alert is not None:
        url = webhook_url(spec.alert)
        check_webhook(url, workspace.settings)
        alert = f"webhook:{url}"
    on_alert = None
    if spec.on_alert is not None:
        kind, path = parse_action(spec.on_alert, root=action_root)
        on_alert = f"{kind}:{path}"
    options = {k: v for k, v in spec.model_dump(include={
        "model", "route", "threshold", "window", "reference", "reference_window"}).items()
        if v is not None}
    if "model" in options:
        options["model"] = options["model"].removeprefix("model:").split("@")[0]
    return {"name": spec.name, "check": spec.check, "options": json.dumps(options,
                                                                          sort_keys=True),
            "every_s": every_s, "alert": alert, "on_alert": on_alert,
            "enabled": int(spec.enabled), "last_run_at": None}


def _monitor(row: Any) -> Monitor:
    data = dict(row._mapping)
    return Monitor(**{**data, "options": json.loads(data["options"]),
                      "enabled": bool(data["enabled"])})


def _alert(row: Any) -> Alert:
    data = dict(row._mapping)
    return Alert(**{**data, "details": json.loads(data["details"]),
                    "action": json.loads(data["action"]) if data["action"] else None})


class MonitorStore:
    """Create, list, run and remove monitors; read alerts."""

    def __init__(self, workspace: Workspace, *, actor: str | None = None) -> None:
        self.workspace = workspace
        self.store = workspace.store
        self.actor = actor or audit.local_actor()

    # -- monitors ---------------------------------------------------------------------

    def create(self, spec: MonitorSpec | dict[str, Any], *,
               action_root: Path | None = None) -> Monitor:
        """Validate and store a monitor.

        Raises:
            InvalidInput: a bad name, check, duration, threshold, reference, alert target
                (WebhookRefused for a host the allowed-hosts policy refuses) or action.
            Conflict: a monitor of that name exists.
        """
        if isinstance(spec, dict):
            try:
                spec = MonitorSpec(**spec)
            except ValidationError as exc:
                first = exc.errors()[0]
                field_name = ".".join(str(p) for p in first["loc"]) or "monitor"
                raise InvalidInput(f"invalid monitor: {field_name}: {first['msg']}",
                                   errors=[{"field": field_name, "message": first["msg"]}]) \
                    from None
        row = validate_spec(self.workspace, spec, action_root=action_root)
        row.update(created_at=now_ms(), created_by=self.actor)

        def write(conn: Connection) -> None:
            if conn.execute(select(monitors.c.name).where(
                    monitors.c.name == row["name"])).first():
                raise Conflict(f"monitor {row['name']} exists: remove it first "
                               f"(llmops monitor remove {row['name']})")
            conn.execute(insert(monitors), row)
            audit.record(conn, self.actor, "monitor.create", "monitor", row["name"],
                         {"check": row["check"], "every_s": row["every_s"],
                          "alert": row["alert"], "on_alert": row["on_alert"]})

        self.store.write(write)
        return self.get(row["name"])

    def get(self, name: str) -> Monitor:
        with self.store.read() as conn:
            row = conn.execute(select(monitors).where(monitors.c.name == name)).first()
            if row is None:
                names = conn.execute(select(monitors.c.name).order_by(monitors.c.name)
                                     ).scalars().all()
                raise NotFound(f"no monitor {name!r}; monitors: {', '.join(names) or 'none'}")
        return _monitor(row)

    def list(self) -> list[Monitor]:
        with self.store.read() as conn:
            rows = conn.execute(select(monitors).order_by(monitors.c.name)).all()
        return [_monitor(r) for r in rows]

    def remove(self, name: str) -> None:
        """Remove a monitor (its alerts stay, as the record of what happened)."""
        self.get(name)

        def write(conn: Connection) -> None:
            conn.execute(delete(monitors).where(monitors.c.name == name))
            audit.record(conn, self.actor, "monitor.remove", "monitor", name)

        self.store.write(write)

    def claim_due(self, now: int | None = None) -> builtins.list[Monitor]:
        """Take every enabled monitor whose period has passed: set its `last_run_at` to
        `now` with an update guarded by the value read, so one process wins each."""
        now = now_ms() if now is None else now
        with self.store.read() as conn:
            due = conn.execute(select(monitors).where(
                monitors.c.enabled == 1,
                or_(monitors.c.last_run_at.is_(None),
                    monitors.c.last_run_at + monitors.c.every_s * 1000 <= now))).all()
        claimed = []
        for row in due:
            seen = row.last_run_at
            guard = monitors.c.last_run_at.is_(None) if seen is None else \
                monitors.c.last_run_at == seen

            def take(conn: Connection, name: str = row.name, guard: Any = guard) -> int:
                return conn.execute(update(monitors).where(monitors.c.name == name, guard)
                                    .values(last_run_at=now)).rowcount

            if self.store.write(take) == 1:
                claimed.append(_monitor(row).model_copy(update={"last_run_at": now}))
        return claimed

    # -- runs and alerts --------------------------------------------------------------

    def run(self, monitor: Monitor | str, *, now: int | None = None,
            claimed: bool = False) -> MonitorResult:
        """Run a monitor now; when its check fires, store the alert, deliver it and run
        the on-alert action. `claimed` means the scheduler already set `last_run_at`."""
        if isinstance(monitor, str):
            monitor = self.get(monitor)
        now = now_ms() if now is None else now
        if not claimed:
            self.store.write(lambda conn: conn.execute(update(monitors).where(
                monitors.c.name == monitor.name).values(last_run_at=now)))
        outcome = evaluate(self.workspace, monitor, now=now)
        alert = self.raise_alert(monitor, outcome) if outcome.fired else None
        return MonitorResult(monitor=monitor.name, fired=outcome.fired,
                             summary=outcome.summary, details=outcome.details, alert=alert)

    def raise_alert(self, monitor: Monitor, outcome: Outcome) -> Alert:
        """Store the alert (delivery pending), deliver it, then run the on-alert action."""
        target = monitor.alert.partition(":")[2] if monitor.alert else None
        alert = Alert(id=new_id(), monitor=monitor.name, check=monitor.check,
                      created_at=now_ms(), severity=outcome.severity,  # type: ignore[arg-type]
                      summary=outcome.summary, details=outcome.details, target=target,
                      delivery="pending" if target else "none")
        row = alert.model_dump()
        row.update(details=json.dumps(alert.details, default=str), action=None,
                   claimed_at=alert.created_at)
        self.store.write(lambda conn: conn.execute(insert(alerts), row))
        if target:
            self.deliver(alert)
        if monitor.on_alert:
            done = run_on_alert(monitor.on_alert, alert, self.workspace.settings)
            self.store.write(lambda conn: conn.execute(update(alerts).where(
                alerts.c.id == alert.id).values(action=json.dumps(done))))
        return self.alert(alert.id)

    def deliver(self, alert: Alert) -> Alert:
        """POST the alert to its webhook; every attempt is recorded as it happens."""
        assert alert.target
        payload = {"id": alert.id, "monitor": alert.monitor, "check": alert.check,
                   "severity": alert.severity, "summary": alert.summary,
                   "created_at": alert.created_at, "details": alert.details}
        done_before = alert.attempts

        def record(attempt: int, error: str | None) -> None:
            values: dict[str, Any] = {"attempts": done_before + attempt, "last_error": error,
                                      "claimed_at": now_ms()}
            if error is None:
                values.update(delivery="delivered", delivered_at=now_ms())
            self.store.write(lambda conn: conn.execute(update(alerts).where(
                alerts.c.id == alert.id).values(**values)))

        result = deliver(alert.target, json.loads(json.dumps(payload, default=str)),
                         self.workspace.settings, on_attempt=record)
        if not result.ok:
            self.store.write(lambda conn: conn.execute(update(alerts).where(
                alerts.c.id == alert.id).values(delivery="failed")))
            log.warning("alert %s of monitor %s was not delivered: %s", alert.id,
                        alert.monitor, result.error)
        return self.alert(alert.id)

    def redeliver_stale(self, now: int | None = None, *,
                        stale_ms: int = STALE_DELIVERY_MS) -> builtins.list[Alert]:
        """Deliver alerts left pending by a process that stopped mid-delivery (nothing
        touched them for `stale_ms`); each is claimed by one process, as monitors are."""
        now = now_ms() if now is None else now
        with self.store.read() as conn:
            stale = conn.execute(select(alerts.c.id, alerts.c.claimed_at).where(
                alerts.c.delivery == "pending", alerts.c.claimed_at <= now - stale_ms)).all()
        delivered = []
        for alert_id, seen in stale:
            def take(conn: Connection, alert_id: str = alert_id, seen: int = seen) -> int:
                return conn.execute(update(alerts).where(
                    alerts.c.id == alert_id, alerts.c.delivery == "pending",
                    alerts.c.claimed_at == seen).values(claimed_at=now)).rowcount

            if self.store.write(take) == 1:
                delivered.append(self.deliver(self.alert(alert_id)))
        return delivered

    def alert(self, alert_id: str) -> Alert:
        with self.store.read() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"no alert {alert_id!r}")
        return _alert(row)

    def alerts(self, *, monitor: str | None = None, since: int | None = None,
               limit: int = 100) -> builtins.list[Alert]:
        """Alerts, newest first."""
        clauses = []
        if monitor:
            clauses.append(alerts.c.monitor == monitor)
        if since is not None:
            clauses.append(alerts.c.created_at >= since)
        query = select(alerts).where(*clauses).order_by(
            alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit)
        with self.store.read() as conn:
            return [_alert(r) for r in conn.execute(query)]
