"""A fake OpenAI-compatible chat completions server on a loopback port, for judges and
endpoint targets. Its `reply` decides each answer: (status, content) from the messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[list[dict[str, str]]], tuple[int, str]]


class FakeOpenAI:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})
                if self.path.endswith("/embeddings"):
                    data = [{"object": "embedding", "index": i, "embedding": [float(len(t)),
                                                                               1.0]}
                            for i, t in enumerate(body["input"])]
                    self._json(200, {"object": "list", "data": data,
                                     "usage": {"total_tokens": len(body["input"])}})
                    return
                status, content = fake.reply(body["messages"])
                if status == 200 and body.get("stream"):
                    self._stream(content)
                    return
                payload = json.dumps({"choices": [{"message": {"role": "assistant",
                                                               "content": content}}],
                                      "usage": {"completion_tokens": len(content.split())}}
                                     if status == 200 else {"error": content}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(payload)

            def _json(self, status: int, value: Any) -> None:
                payload = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, content: str) -> None:
                words = content.split(" ")
                chunks = [{"choices": [{"index": 0, "delta": {"content": w if i == 0 else
                                                               " " + w}}]}
                          for i, w in enumerate(words)]
                chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                chunks.append({"choices": [], "usage": {"prompt_tokens": 1,
                                                        "completion_tokens": len(words)}})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@contextmanager
def fake_openai(reply: Reply) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(reply)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join()
