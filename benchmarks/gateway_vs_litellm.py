"""Gateway overhead: llmops's gateway vs the LiteLLM proxy, in front of the same stub.

    python benchmarks/gateway_vs_litellm.py --litellm-python /work/peers/litellm-venv/bin/python
        [--duration 10] [--repeat 1] [--nice -10] [--json PATH] [--html PATH] [--quick]

One run starts, each in its own process:
  1. an instant OpenAI-compatible upstream stub (asyncio, answers /v1/chat/completions
     with a fixed completion as soon as the request is read);
  2. `llmops server` with a fresh home (SQLite), an inference key with per-key limits
     (requests and tokens per minute, a token budget: generous, so none trips), a route
     `bench` with `--upstream` at the stub, `--injection log` and `--redact-input`; every
     request is logged as a trace;
  3. the LiteLLM proxy (one worker, `--num_workers 1`) in its own environment, a master key
     (auth on), the same stub as an `openai/` model, and LiteLLM's `CustomLogger` success
     and failure hooks appending one JSON line per request to a file (LiteLLM keeps no
     request log without a database; this is the logging it has without one).
The load generator is wrk (one thread, keep-alive connections, a Lua POST script) at
concurrency 1 and 16, against the stub alone, then llmops, then LiteLLM (one server up
at a time). "Added p50" is the server's p50 minus the stub's p50 at concurrency 1.

Then llmops is stopped (shutdown drains its trace queue) and the traces in its database
are counted: they must equal the requests the stub received through llmops (wrk counts
only the answers it read before its clock ran out, so it may count up to `concurrency`
fewer). Goal: llmops >= 20x LiteLLM's requests/s at concurrency 16, added p50 <= 0.5 ms
at concurrency 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

GOAL_RPS_RATIO = 20.0
GOAL_ADDED_P50_MS = 0.5
ROUTE = "bench"
MESSAGES = [
    {"role": "system", "content": "You are a helpful travel assistant."},
    {"role": "user", "content": "Where should I stay in Lisbon in spring? Write to me at "
                                "ana.silva@example.com with three ideas."},
]

STUB = r'''
import asyncio, json, sys, time
BODY = json.dumps({"id": "chatcmpl-stub", "object": "chat.completion", "created": 0,
    "model": "stub", "choices": [{"index": 0, "message": {"role": "assistant",
    "content": "Alfama for views, Principe Real for calm, Baixa for everything close."},
    "finish_reason": "stop"}], "usage": {"prompt_tokens": 31, "completion_tokens": 14,
    "total_tokens": 45}}).encode()
OK = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
      + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
served = 0

class Stub(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf = transport, b""
    def data_received(self, data):
        global served
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                break
            self.buf = self.buf[end + 4 + length:]
            path = head.split(" ", 2)[1]
            if path.endswith("/chat/completions"):
                served += 1
                out.append(OK)
            else:
                body = json.dumps({"served": served}).encode()
                out.append(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                           b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        if out:
            self.t.write(b"".join(out))

async def main(port):
    server = await asyncio.get_running_loop().create_server(Stub, "127.0.0.1", port,
                                                            backlog=1024)
    print("ready", flush=True)
    await server.serve_forever()

try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
asyncio.run(main(int(sys.argv[1])))
'''

LITELLM_LOGGER = '''
import json, time
from litellm.integrations.custom_logger import CustomLogger

class RequestLog(CustomLogger):
    """One JSON line per request, as a request log without a database."""
    def __init__(self):
        super().__init__()
        self.out = open(__import__("os").environ["BENCH_LITELLM_LOG"], "a", buffering=1)
    def _line(self, status, kwargs, start, end):
        self.out.write(json.dumps({"status": status, "model": kwargs.get("model"),
            "latency_ms": (end - start).total_seconds() * 1000, "at": time.time()}) + "\\n")
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._line("ok", kwargs, start_time, end_time)
    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._line("error", kwargs, start_time, end_time)

request_log = RequestLog()
'''

WRK_LUA = '''
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests":%d,"duration_us":%d,"connect":%d,' ..
    '"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"mean_us":%.1f,"max_us":%d}}\\n', summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
'''


NICE: list[str] = []  # ["nice", "-n", N] with --nice: every process of the run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uptime() -> str:
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    match = re.search(r"load average: (.*)$", out)
    return match.group(1) if match else out


def wait_http(url: str, proc: subprocess.Popen[Any], timeout: float, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited early:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not start in {timeout:.0f}s:\n"
                             f"{log.read_text()[-4000:]}")
        time.sleep(0.2)


@contextmanager
def process(cmd: list[str], *, env: dict[str, str], log: Path, health: str,
            timeout: float = 120) -> Iterator[subprocess.Popen[Any]]:
    with log.open("w") as out:
        proc = subprocess.Popen([*NICE, *cmd], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_http(health, proc, timeout, log)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stub_served(url: str) -> int:
    import httpx

    return int(httpx.get(f"{url}/count", timeout=5).json()["served"])


def wrk(url: str, key: str, model: str, connections: int, duration: float,
        workdir: Path) -> dict[str, Any]:
    body = json.dumps({"model": model, "messages": MESSAGES, "max_tokens": 64})
    script = workdir / f"post-{abs(hash((key, model)))}.lua"
    script.write_text(WRK_LUA.format(body=json.dumps(body), key=key))
    cmd = [*NICE, "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
           "-s", str(script), f"{url}/v1/chat/completions"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^WRKJSON (.*)$", out, re.M)
    if not match:
        raise SystemExit(f"wrk printed no summary:\n{out}")
    raw = json.loads(match.group(1))
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {"connections": connections, "requests": raw["requests"], "errors": errors,
            "error_detail": {k: raw[k] for k in ("connect", "read", "write", "status",
                                                 "timeout") if raw[k]},
            "rps": raw["requests"] / (raw["duration_us"] / 1e6),
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000, "mean_ms": raw["mean_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "load": uptime()}


def measure(name: str, url: str, key: str, model: str, args: argparse.Namespace,
            workdir: Path, update: Any, done: list[int], total: int) -> dict[str, Any]:
    """Warm up, then `repeat` runs at each concurrency; the best run (by requests/s)."""
    warm = wrk(url, key, model, 16, args.warmup, workdir)
    cells: dict[str, Any] = {"warmup_requests": warm["requests"]}
    for conns in (1, 16):
        runs = []
        for _ in range(args.repeat):
            runs.append(wrk(url, key, model, conns, args.duration, workdir))
            done[0] += 1
            update(done[0], total)
        best = max(runs, key=lambda r: r["rps"])
        best["all_rps"] = [round(r["rps"], 1) for r in runs]
        best["all_p50_ms"] = [round(r["p50_ms"], 3) for r in runs]
        best["requests_all_runs"] = sum(r["requests"] for r in runs)
        if any(r["errors"] for r in runs):
            best["errors"] = sum(r["errors"] for r in runs)
        cells[f"c{conns}"] = best
        print(f"  {name:8} c={conns:<3} {best['rps']:>9,.1f} req/s  p50 {best['p50_ms']:.3f} ms"
              f"  p99 {best['p99_ms']:.3f} ms  errors {best['errors']}  load {best['load']}",
              file=sys.stderr)
    return cells


def run_cli(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "llmops", *args, "--json"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"llmops {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout)


def llmops_phase(stub_url: str, args: argparse.Namespace, workdir: Path, update: Any,
                 done: list[int], total: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    home = workdir / "llmops-home"
    env["LLMOPS_HOME"] = str(home)
    run_cli(env, "init")
    key = run_cli(env, "keys", "create", "--role", "inference", "--name", "bench",
                  "--rpm", "1000000000", "--tpm", "1000000000000",
                  "--budget", "1000000000000000")["key"]
    run_cli(env, "routes", "add", ROUTE, "--upstream", f"{stub_url}/v1", "--upstream-model",
            "stub", "--injection", "log", "--redact-input", "--max-tokens", "256")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    before = stub_served(stub_url)
    with process([sys.executable, "-m", "llmops", "server", "--port", str(port)], env=env,
                 log=workdir / "llmops.log", health=f"{url}/healthz") as proc:
        cells = measure("llmops", url, key, ROUTE, args, workdir, update, done, total)
        time.sleep(0.5)  # let requests that wrk stopped waiting for finish upstream
        stop(proc)  # shutdown drains the trace queue
    through = stub_served(stub_url) - before
    answered = cells["warmup_requests"] + sum(cells[c]["requests_all_runs"]
                                              for c in ("c1", "c16"))
    db = sqlite3.connect(home / "llmops.db")
    try:
        stored, ok, guarded = db.execute(
            "SELECT count(*), sum(status = 200), sum(guard IS NOT NULL) FROM traces "
            "WHERE route = ?", (ROUTE,)).fetchone()
    finally:
        db.close()
    cells["traces"] = {"stored": stored, "status_200": ok, "with_guard_report": guarded,
                       "upstream_requests": through, "answers_read_by_wrk": answered,
                       "equal": stored == through and stored >= answered}
    return cells


def litellm_phase(stub_url: str, args: argparse.Namespace, workdir: Path, update: Any,
                  done: list[int], total: int) -> dict[str, Any]:
    (workdir / "bench_logger.py").write_text(LITELLM_LOGGER)
    config = workdir / "litellm.yaml"
    config.write_text(textwrap.dedent(f"""
        model_list:
          - model_name: {ROUTE}
            litellm_params:
              model: openai/stub
              api_base: {stub_url}/v1
              api_key: sk-stub
        litellm_settings:
          callbacks: bench_logger.request_log
        general_settings:
          master_key: sk-bench-master
    """))
    log_file = workdir / "litellm-requests.jsonl"
    env = {**os.environ, "BENCH_LITELLM_LOG": str(log_file), "LITELLM_LOG": "ERROR",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(workdir)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = Path(args.litellm_python).parent / "litellm"
    cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]
    before = stub_served(stub_url)
    with process(cmd, env=env, log=workdir / "litellm.log",
                 health=f"{url}/health/liveliness", timeout=180) as proc:
        cells = measure("litellm", url, "sk-bench-master", ROUTE, args, workdir, update,
                        done, total)
        time.sleep(1.0)
        stop(proc)
    logged = sum(1 for _ in log_file.open()) if log_file.exists() else 0
    cells["request_log"] = {"lines": logged, "upstream_requests": stub_served(stub_url) - before}
    return cells


def versions(args: argparse.Namespace) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("llmops", "uvicorn", "fastapi", "httpx"):
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "?"
    if args.litellm_python:
        out = subprocess.run([args.litellm_python, "-c", "from importlib.metadata import "
                              "version; print(version('litellm'))"], capture_output=True,
                             text=True)
        found["litellm"] = out.stdout.strip() or "?"
    found["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True
                                  ).stdout.split("\n")[0].strip()
    return found


def summary(result: dict[str, Any]) -> dict[str, Any]:
    stub, ours, theirs = (result["stub"], result["llmops"], result.get("litellm"))
    out: dict[str, Any] = {
        "stub_p50_ms_c1": stub["c1"]["p50_ms"],
        "llmops_added_p50_ms_c1": ours["c1"]["p50_ms"] - stub["c1"]["p50_ms"],
        "goal_added_p50_ms": GOAL_ADDED_P50_MS}
    out["added_p50_goal_met"] = out["llmops_added_p50_ms_c1"] <= GOAL_ADDED_P50_MS
    if theirs:
        out["litellm_added_p50_ms_c1"] = theirs["c1"]["p50_ms"] - stub["c1"]["p50_ms"]
        for c in ("c1", "c16"):
            out[f"rps_ratio_{c}"] = ours[c]["rps"] / theirs[c]["rps"]
        out["goal_rps_ratio_c16"] = GOAL_RPS_RATIO
        out["rps_goal_met"] = out["rps_ratio_c16"] >= GOAL_RPS_RATIO
    out["traces_equal_requests"] = ours["traces"]["equal"]
    return out


def html_report(result: dict[str, Any]) -> str:
    from llmops.datasets.report import bar_svg
    from llmops.html_page import escape, page

    names = [n for n in ("stub", "llmops", "litellm") if n in result]
    colors = {"c1": "#4c78a8", "c16": "#f58518"}
    charts = []
    for c in ("c1", "c16"):
        charts.append((f"Requests/s at concurrency {c[1:]}", bar_svg(
            [(n, round(result[n][c]["rps"])) for n in names], color=colors[c])))
        charts.append((f"p50 latency at concurrency {c[1:]}, µs", bar_svg(
            [(n, round(result[n][c]["p50_ms"] * 1000)) for n in names], color=colors[c])))
        charts.append((f"p99 latency at concurrency {c[1:]}, µs", bar_svg(
            [(n, round(result[n][c]["p99_ms"] * 1000)) for n in names], color=colors[c])))
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{c[1:]}</td><td>{result[n][c]['rps']:,.1f}</td>"
        f"<td>{result[n][c]['p50_ms']:.3f}</td><td>{result[n][c]['p99_ms']:.3f}</td>"
        f"<td>{result[n][c]['requests']:,}</td><td>{result[n][c]['errors']}</td>"
        f"<td>{escape(result[n][c]['load'])}</td></tr>"
        for n in names for c in ("c1", "c16"))
    s = result["summary"]
    facts = [f"added p50 at concurrency 1: {s['llmops_added_p50_ms_c1']:.3f} ms "
             f"(goal <= {GOAL_ADDED_P50_MS} ms: {'met' if s['added_p50_goal_met'] else 'missed'})"]
    if "rps_ratio_c16" in s:
        facts.append(f"requests/s vs LiteLLM at concurrency 16: {s['rps_ratio_c16']:.1f}x "
                     f"(goal >= {GOAL_RPS_RATIO:g}x: "
                     f"{'met' if s['rps_goal_met'] else 'missed'}); at concurrency 1: "
                     f"{s['rps_ratio_c1']:.1f}x")
    t = result["llmops"]["traces"]
    facts.append(f"llmops traces stored {t['stored']:,}, upstream requests through llmops "
                 f"{t['upstream_requests']:,}, answers read by wrk {t['answers_read_by_wrk']:,}")
    body = (f"<h1>Gateway overhead: llmops vs LiteLLM</h1><p class='sub'>"
            f"{escape(result['when'])} · {escape(result['machine'])} · "
            + " · ".join(f"{escape(k)} {escape(v)}" for k, v in result["versions"].items())
            + "</p><h2>Summary</h2><ul>" + "".join(f"<li>{escape(f)}</li>" for f in facts)
            + "</ul><div class='charts'>"
            + "".join(f"<div class='chart'><p class='cap'>{escape(cap)}</p>{svg}</div>"
                      for cap, svg in charts)
            + "</div><h2>Figures</h2><table><tr><th>server</th><th>concurrency</th>"
            "<th>requests/s</th><th>p50 ms</th><th>p99 ms</th><th>requests</th>"
            f"<th>errors</th><th>load (1/5/15 min)</th></tr>{rows}</table>"
            f"<h2>Setup</h2><p>{escape(result['setup'])}</p>"
            "<footer>benchmarks/gateway_vs_litellm.py</footer>")
    return page("Gateway overhead: llmops vs LiteLLM", body)


SETUP = ("Same instant upstream stub for all. llmops: `llmops server` (uvicorn, one process, "
         "SQLite), an inference key with rpm/tpm/budget limits, route with --injection log "
         "and --redact-input, every request a trace. LiteLLM proxy: one worker, master key, "
         "CustomLogger success/failure hooks writing one JSON line per request (no database)."
         " wrk, one thread, keep-alive, POST with a two-message chat body.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--litellm-python", help="python of an environment with "
                        "litellm[proxy] (its `litellm` script is used); omit to skip LiteLLM")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; the best is kept")
    parser.add_argument("--quick", action="store_true", help="2-second runs (smoke test)")
    parser.add_argument("--nice", type=int, default=0, help="run the stub, both servers and "
                        "wrk at this niceness (e.g. -10 on a shared machine; root only)")
    parser.add_argument("--json", type=Path, help="save the results here")
    parser.add_argument("--html", type=Path, help="save a self-contained HTML chart here")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup = 2.0, 1.0
    if args.nice:
        NICE[:] = ["nice", "-n", str(args.nice)]
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is missing: apt-get install wrk")

    from llmops.cli.progress import step_progress

    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()} {platform.system()} "
                   f"{platform.release()}", "versions": versions(args),
        "load_before": uptime(), "setup": SETUP, "duration_s": args.duration,
        "repeat": args.repeat, "nice": args.nice}
    phases = 3 if args.litellm_python else 2
    total = phases * 2 * args.repeat
    done = [0]
    with tempfile.TemporaryDirectory(prefix="llmops-gw-bench-") as tmp, \
            step_progress("gateway benchmark") as update:
        workdir = Path(tmp)
        port = free_port()
        stub_url = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-c", STUB, str(port)], env=dict(os.environ),
                     log=workdir / "stub.log", health=f"{stub_url}/count"):
            result["stub"] = measure("stub", stub_url, "none", "stub", args, workdir, update,
                                     done, total)
            result["llmops"] = llmops_phase(stub_url, args, workdir, update, done, total)
            if args.litellm_python:
                result["litellm"] = litellm_phase(stub_url, args, workdir, update, done,
                                                  total)
    result["load_after"] = uptime()
    result["summary"] = summary(result)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.html:
        args.html.write_text(html_report(result))
    if not result["summary"]["traces_equal_requests"]:
        raise SystemExit("traces stored != requests sent through llmops")


if __name__ == "__main__":
    main()
