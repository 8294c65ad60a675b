"""An application behind the llmops gateway: it asks with the official `openai` client
(only base_url and api_key point at llmops) and sends its users' corrections back as
feedback with the same inference key. Prints the trace ids it got.

    python examples/app_with_feedback.py http://127.0.0.1:8000 llmops_... 12
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import openai

FAQ = Path(__file__).parent / "data" / "travel-faq.jsonl"
SYSTEM = "You are a friendly travel agent. Answer briefly and concretely."


def main(base: str, key: str, count: int) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key)
    rows = [json.loads(line) for line in FAQ.read_text().splitlines()[:count]]
    for row in rows:
        raw = client.chat.completions.with_raw_response.create(
            model="travel-assistant", max_tokens=40, messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": row["prompt"]}])
        trace = raw.headers["x-llmops-trace-id"]
        answer = raw.parse().choices[0].message.content
        # the user marks the answer and says what it should have said
        httpx.post(f"{base}/api/v1/feedback", headers={
            "Authorization": f"Bearer {key}", "Idempotency-Key": f"fix-{trace}"}, json={
            "trace_id": trace, "score": 2, "correction": row["response"]},
            timeout=30).raise_for_status()
        print(f"{trace}  Q: {row['prompt']}\n{' ' * 28}A: {answer}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
