"""Trace ingest and trace queries: llmops vs MLflow's tracing, side by side in one run.

    python benchmarks/trace_ingest.py [--spans 100000] [--batch 512] [--senders 4]
        [--traces 1000000] [--mlflow-python /work/peers/mlflow-venv/bin/python]
        [--json PATH]

1. OTLP/HTTP ingest. ``llmops server`` runs as its own process on a loopback port with
   a fresh SQLite home. The client first encodes every ExportTraceServiceRequest
   (protobuf, `--batch` spans each, GenAI attributes, parent/child ids, as the
   OpenTelemetry exporter sends them), then `--senders` threads POST them to /v1/traces
   with an inference key. Timed: from the first request to the last 200. Afterwards the
   rows in the ``spans`` table are counted: nothing lost means rows == spans sent.
   A second, smaller row sends spans made by the real opentelemetry-sdk with its
   OTLPSpanExporter (BatchSpanProcessor), timed to ``force_flush`` returning.
2. Listing one model's traces of the last hour over `--traces` stored gateway traces
   (bulk-inserted with executemany, 20 models, 30 days): ``list_traces(model=, since="1h")``
   through the Python API, median of 20 calls after one warm-up.
3. MLflow (`--mlflow-python`, a venv outside the repo with mlflow installed): ``mlflow
   server`` with a SQLite backend store as its own process, receiving the very same
   protobuf requests at its OTLP endpoint (/v1/traces, ``x-mlflow-experiment-id``), timed
   the same way, then its stored spans counted.

Goals: ingest >= 5,000 spans/s on 2 cores into SQLite with nothing lost; the listing
< 200 ms. The machine may be shared: `uptime` load is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

SEED = 20261126
MODELS = [f"model-{i:02d}" for i in range(20)]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start in {timeout:.0f} s")
        time.sleep(0.2)


def encode_batches(total: int, batch: int) -> list[bytes]:
    """ExportTraceServiceRequests of `batch` spans: traces of 8 spans, one root and
    seven children with GenAI attributes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    rng = random.Random(SEED)
    now = time.time_ns()
    out: list[bytes] = []
    made = 0
    while made < total:
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(KeyValue(key="service.name",
                                               value=AnyValue(string_value="bench-app")))
        ss = rs.scope_spans.add()
        ss.scope.name = "bench"
        trace_id = root = b""
        for _ in range(min(batch, total - made)):
            if made % 8 == 0:
                trace_id, root = rng.randbytes(16), rng.randbytes(8)
                span_id, parent = root, b""
            else:
                span_id, parent = rng.randbytes(8), root
            start = now + made * 1000
            span = ss.spans.add(trace_id=trace_id, span_id=span_id, parent_span_id=parent,
                                name="chat" if parent else "agent", kind=Span.SPAN_KIND_CLIENT,
                                start_time_unix_nano=start, end_time_unix_nano=start + 250_000)
            span.attributes.extend([
                KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
                KeyValue(key="gen_ai.request.model",
                         value=AnyValue(string_value=rng.choice(MODELS))),
                KeyValue(key="gen_ai.usage.input_tokens",
                         value=AnyValue(int_value=rng.randint(10, 500))),
                KeyValue(key="gen_ai.usage.output_tokens",
                         value=AnyValue(int_value=rng.randint(5, 300))),
                KeyValue(key="gen_ai.request.temperature", value=AnyValue(double_value=0.2)),
                KeyValue(key="app.step", value=AnyValue(string_value=f"step {made % 8}")),
            ])
            made += 1
        out.append(request.SerializeToString())
    return out


def send_all(url: str, bodies: list[bytes], headers: dict[str, str],
             senders: int) -> tuple[float, int]:
    """POST every body from `senders` threads; (seconds, failed requests)."""
    todo = list(reversed(bodies))
    lock = threading.Lock()
    failed = [0]

    def work() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                for _attempt in range(5):
                    r = client.post(url, content=body, headers=headers)
                    if r.status_code == 200:
                        break
                    time.sleep(0.2)
                else:
                    with lock:
                        failed[0] += 1

    threads = [threading.Thread(target=work) for _ in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, failed[0]


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _llmops_home(tmp: Path) -> tuple[dict[str, str], str]:
    from llmops.auth.keys import create_key
    from llmops.config import Settings
    from llmops.workspace import Workspace

    home = tmp / "llmops"
    if home.exists():
        import shutil

        shutil.rmtree(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env["LLMOPS_HOME"] = str(home)
    workspace = Workspace.open(Settings(home=home))
    key = create_key(workspace.store, name="bench", role="inference", actor="bench")[0]
    Workspace.close_all()
    return env, key


def bench_llmops_ingest(tmp: Path, bodies: list[bytes], spans: int, senders: int,
                        sdk_spans: int, synchronous: str = "NORMAL") -> dict[str, Any]:
    env, key = _llmops_home(tmp)
    env["LLMOPS_SQLITE_SYNCHRONOUS"] = synchronous
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llmops", "server", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/healthz", proc, "llmops server")
        headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}
        seconds, failed = send_all(f"{base}/v1/traces", bodies, headers, senders)
        stored = _count(tmp / "llmops" / "llmops.db", "spans")
        result = {"spans": spans, "seconds": seconds, "spans_per_s": spans / seconds,
                  "failed_requests": failed, "stored": stored, "lost": spans - stored}
        if sdk_spans:
            result["sdk"] = _sdk_exporter(base, key, sdk_spans,
                                          tmp / "llmops" / "llmops.db", stored)
        return result
    finally:
        proc.terminate()
        proc.wait(30)


def _sdk_exporter(base: str, key: str, n: int, db: Path, before: int) -> dict[str, Any]:
    """Spans made and exported by the real opentelemetry-sdk, in this process."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces",
                                headers={"Authorization": f"Bearer {key}"})
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-sdk"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=n + 1,
                                                   max_export_batch_size=512,
                                                   schedule_delay_millis=200))
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for i in range(n // 8):
        with tracer.start_as_current_span("agent"):
            for _ in range(7):
                with tracer.start_as_current_span("chat", attributes={
                        "gen_ai.operation.name": "chat", "gen_ai.request.model": MODELS[i % 20],
                        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 50}):
                    pass
    provider.force_flush(300_000)
    seconds = time.perf_counter() - started
    provider.shutdown()
    sent = n // 8 * 8
    stored = _count(db, "spans") - before
    return {"spans": sent, "seconds": seconds, "spans_per_s": sent / seconds,
            "stored": stored, "lost": sent - stored}


def bench_listing(tmp: Path, total: int) -> dict[str, Any]:
    """Bulk-insert `total` traces (in time order, as traffic arrives, with sqlite3's
    executemany), then list one model's last hour."""
    from llmops.clock import now_ms
    from llmops.config import Settings
    from llmops.store.tables import traces
    from llmops.traces.store import list_traces
    from llmops.workspace import Workspace

    home = tmp / "listing"
    workspace = Workspace.open(Settings(home=home))
    Workspace.close_all()
    rng = random.Random(SEED)
    now = now_ms()
    span = 30 * 86_400_000
    columns = ["id", "route", "target", "model", "status", "input", "output",
               "prompt_tokens", "completion_tokens", "latency_ms", "stream", "created_at"]
    assert all(c in traces.c for c in columns)  # fixed names, no user input in the SQL
    sql = f"INSERT INTO traces ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    started = time.perf_counter()
    chunk = 100_000
    with sqlite3.connect(home / "llmops.db") as db:
        for first in range(0, total, chunk):
            rows = [(f"01BENCH{i:019d}", f"route-{i % 7}", f"model:{MODELS[i % 20]}@1",
                     MODELS[i % 20], 200 if i % 50 else 500,
                     f'[{{"role": "user", "content": "question number {i}"}}]',
                     f"answer number {i}", 20, 10, 100.0 + i % 400, 0,
                     now - span + i * span // total + rng.randrange(1000))
                    for i in range(first, min(total, first + chunk))]
            db.executemany(sql, rows)
            db.commit()
            print(f"  inserted {min(total, first + chunk):,} traces", file=sys.stderr,
                  end="\r")
    workspace = Workspace.open(Settings(home=home))
    insert_s = time.perf_counter() - started
    model = MODELS[3]
    times: list[float] = []
    found = 0
    for i in range(21):
        t0 = time.perf_counter()
        page = list_traces(workspace, model=model, since="1h", limit=50)
        if i:
            times.append((time.perf_counter() - t0) * 1000)
        found = len(page.items)
    all_times: list[float] = []
    for i in range(6):
        t0 = time.perf_counter()
        full = list_traces(workspace, model=model, since="1h", limit=1000)
        if i:
            all_times.append((time.perf_counter() - t0) * 1000)
    Workspace.close_all()
    return {"traces": total, "insert_s": insert_s, "insert_rows_per_s": total / insert_s,
            "model": model, "page_rows": found, "list_ms_median": statistics.median(times),
            "list_ms_max": max(times), "hour_rows": len(full.items),
            "list_all_hour_ms_median": statistics.median(all_times)}


def bench_mlflow_ingest(tmp: Path, python: str, bodies: list[bytes], spans: int,
                        senders: int) -> dict[str, Any]:
    db = tmp / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    version = subprocess.run([python, "-c", "import mlflow; print(mlflow.__version__)"],
                             capture_output=True, text=True, env=env, check=True).stdout.strip()
    backend = f"sqlite:///{db}"
    # create the experiment (and the schema) before the server starts
    made = subprocess.run([python, "-c", (
        f"import mlflow; mlflow.set_tracking_uri({backend!r}); "
        "print(mlflow.create_experiment('bench'))")],
        capture_output=True, text=True, env=env)
    if made.returncode != 0:
        raise SystemExit(f"mlflow: {made.stderr[-2000:]}")
    experiment = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    proc = subprocess.Popen([python, "-m", "mlflow", "server", "--backend-store-uri", backend,
                             "--default-artifact-root", str(tmp / "mlflow" / "artifacts"),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "mlflow" / "server.log", "wb"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/health", proc, "mlflow server", timeout=300)
        headers = {"Content-Type": "application/x-protobuf",
                   "x-mlflow-experiment-id": experiment}
        probe = httpx.post(f"{base}/v1/traces", content=bodies[0], headers=headers,
                           timeout=120)
        if probe.status_code != 200:
            raise SystemExit(f"mlflow /v1/traces answered {probe.status_code}: "
                             f"{probe.text[:500]}")
        seconds, failed = send_all(f"{base}/v1/traces", bodies[1:], headers, senders)
        stored = _count(db, "spans")
        timed = spans - _spans_in(bodies[0])  # the first request was the untimed probe
        return {"version": version, "spans": spans, "timed_spans": timed,
                "seconds": seconds, "spans_per_s": timed / seconds,
                "failed_requests": failed, "stored": stored, "lost": spans - stored}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _spans_in(body: bytes) -> int:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--sdk-spans", type=int, default=20_000)
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--mlflow-python", default=None,
                        help="Python of a venv with mlflow (e.g. "
                             "/work/peers/mlflow-venv/bin/python); omitted: no MLflow part.")
    parser.add_argument("--mlflow-spans", type=int, default=None,
                        help="Spans sent to MLflow (default: --spans).")
    parser.add_argument("--skip-listing", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"uptime_before": _uptime(), "cpus": os.cpu_count()}
    bodies = encode_batches(args.spans, args.batch)
    with tempfile.TemporaryDirectory(prefix="trace-bench-") as tmp_s:
        tmp = Path(tmp_s)
        print(f"llmops: OTLP ingest of {args.spans:,} spans ...", file=sys.stderr)
        results["llmops_ingest"] = bench_llmops_ingest(tmp, bodies, args.spans, args.senders,
                                                       args.sdk_spans)
        print("llmops: the same with LLMOPS_SQLITE_SYNCHRONOUS=FULL ...", file=sys.stderr)
        results["llmops_ingest_full"] = bench_llmops_ingest(tmp, bodies, args.spans,
                                                            args.senders, 0, "FULL")
        if args.mlflow_python:
            n = args.mlflow_spans or args.spans
            print(f"mlflow: OTLP ingest of {n:,} spans ...", file=sys.stderr)
            results["mlflow_ingest"] = bench_mlflow_ingest(
                tmp, args.mlflow_python, encode_batches(n, args.batch), n, args.senders)
        if not args.skip_listing:
            print(f"listing over {args.traces:,} traces ...", file=sys.stderr)
            results["listing"] = bench_listing(tmp, args.traces)
    results["uptime_after"] = _uptime()
    _report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "n/a"


def _report(r: dict[str, Any]) -> None:
    a = r["llmops_ingest"]
    print(f"\nmachine: {r['cpus']} CPUs; before: {r['uptime_before']}")
    print("| measure | llmops | MLflow | ratio |")
    print("|---|---|---|---|")
    m = r.get("mlflow_ingest")
    ratio = f"{a['spans_per_s'] / m['spans_per_s']:.1f}x" if m else "-"
    print(f"| OTLP/HTTP protobuf ingest, spans/s | {a['spans_per_s']:,.0f} | "
          f"{m['spans_per_s']:,.0f} | {ratio} |" if m else
          f"| OTLP/HTTP protobuf ingest, spans/s | {a['spans_per_s']:,.0f} | - | - |")
    f = r["llmops_ingest_full"]
    full_ratio = f"{f['spans_per_s'] / m['spans_per_s']:.1f}x" if m else "-"
    print(f"| same, llmops with synchronous=FULL (fsync per commit, as MLflow's SQLite) | "
          f"{f['spans_per_s']:,.0f} | | {full_ratio} |")
    lost = f"{a['lost']} + {f['lost']} of {a['spans']:,} each"
    mlost = f"{m['lost']} of {m['spans']:,}" if m else "-"
    print(f"| spans lost (sent - stored) | {lost} | {mlost} | |")
    s = a["sdk"]
    print(f"| real opentelemetry-sdk exporter, spans/s (client-bound) | {s['spans_per_s']:,.0f}"
          f" (lost {s['lost']} of {s['spans']:,}) | | |")
    if "listing" in r:
        listing = r["listing"]
        print(f"| one model's last hour over {listing['traces']:,} traces, ms (median, "
              f"limit 50) | {listing['list_ms_median']:.2f} | | |")
        print(f"| same, all {listing['hour_rows']} rows of the hour (limit 1000), ms | "
              f"{listing['list_all_hour_ms_median']:.2f} | | |")
        print(f"| bulk insert of the traces, rows/s | {listing['insert_rows_per_s']:,.0f} | "
              "| |")
    if m:
        print(f"\nMLflow {m['version']}")
    print(f"after: {r['uptime_after']}")


if __name__ == "__main__":
    sys.exit(main())
