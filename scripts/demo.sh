#!/usr/bin/env bash
# `make demo`: the whole lifecycle, ending with the closed loop, in a throw-away home folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export LLMOPS_HOME=${LLMOPS_HOME:-$(mktemp -d -t llmops-demo-XXXXXX)}
llmops() { "$PY" -m llmops "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "llmops init (home: $LLMOPS_HOME)"
llmops init

step "a tracked training run: params, a metric per step, a folder artifact"
RUN=$("$PY" examples/track_training.py)
echo "run $RUN"

step "llmops runs list"
llmops runs list

step "llmops runs show $RUN"
llmops runs show "$RUN"

step "llmops lineage show run:$RUN"
llmops lineage show "run:$RUN"

step "a versioned dataset: import with splits, show, peek at the test split"
llmops datasets import travel-qa examples/data/travel-qa.jsonl --kind chat \
  --split train=0.8,val=0.1,test=0.1
llmops datasets show travel-qa@1
llmops datasets head "travel-qa@1#test" -n 1

step "profile (exploratory analysis) with a self-contained HTML report"
llmops datasets profile travel-qa@1 --html "$LLMOPS_HOME/travel-qa-profile.html" --quiet
echo "report: $LLMOPS_HOME/travel-qa-profile.html"

step "derive a filtered version with SQL, then diff and lineage"
llmops datasets derive travel-food --from travel-qa@1 \
  --where "messages ILIKE '%eat%' OR messages ILIKE '%dish%' OR messages ILIKE '%food%'"
llmops datasets diff travel-qa@1 travel-food@1
llmops lineage show dataset:travel-food@1

step "a versioned prompt with a label, few-shot examples from a dataset, rendered safely"
llmops datasets import travel-faq examples/data/travel-faq.jsonl --kind instruction \
  --split train=0.9,test=0.1 --quiet
llmops prompts create travel-system -f examples/prompts/travel-system.yaml --label production
llmops prompts render travel-system@production --var agency="Sunny Trips" \
  --var question="What should I eat in Porto?"

step "the built-in base model: a tokenizer and a small Llama pre-trained on the travel corpus"
llmops models build-base tiny-travel

step "held-out ROUGE-L of the base model (before fine-tuning)"
llmops eval run --model model:tiny-travel@1 --data "travel-qa@1#test" --metrics rougeL,bleu \
  --max-new-tokens 40 --quiet --json > "$LLMOPS_HOME/eval-before.json"
"$PY" -c "import json,sys; print('ROUGE-L before:', round(json.load(open(sys.argv[1]))['metrics']['rougeL'], 3))" "$LLMOPS_HOME/eval-before.json"

step "fine-tune it with LoRA on travel-qa@1 (tracked, checkpointed, registered)"
llmops train sft --base model:tiny-travel@1 --data travel-qa@1 --lora --epochs 3 --lr 2e-3 \
  --batch-size 16 --register travel-assistant

step "held-out ROUGE-L of the fine-tuned model (after)"
llmops eval run --model model:travel-assistant@1 --data "travel-qa@1#test" --metrics rougeL,bleu \
  --max-new-tokens 40 --quiet --json > "$LLMOPS_HOME/eval-after.json"
"$PY" - "$LLMOPS_HOME/eval-before.json" "$LLMOPS_HOME/eval-after.json" <<'PYEOF'
import json, sys
before, after = (json.load(open(p))["metrics"]["rougeL"] for p in sys.argv[1:])
print(f"ROUGE-L on travel-qa@1#test: {before:.3f} before -> {after:.3f} after fine-tuning")
PYEOF

step "compare before and after: paired bootstrap 95% intervals, HTML report with charts"
ids=$("$PY" -c "import json,sys; print(*(json.load(open(p))['id'] for p in sys.argv[1:]))" \
  "$LLMOPS_HOME/eval-before.json" "$LLMOPS_HOME/eval-after.json")
llmops eval compare $ids --html "$LLMOPS_HOME/compare.html"

step "promote through a gate: evaluated again (from the cache), alias moved only if it passes"
llmops models promote travel-assistant 1 --alias production --data "travel-qa@1#test" \
  --metrics rougeL,bleu --max-new-tokens 40 --gate "rougeL >= 0.3" --quiet

step "the registry: versions, aliases, gate results, and where the model came from"
llmops models versions travel-assistant
llmops lineage show model:travel-assistant@production

step "deploy it behind the OpenAI-compatible gateway and ask it a question"
llmops deploy travel-assistant --model model:travel-assistant@production
PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$PY" -m llmops server --port "$PORT" > "$LLMOPS_HOME/server.log" 2>&1 &  # not the function: $! is the server
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
APP_KEY=$(llmops keys create --name demo-app --role inference --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['key'])")
"$PY" - "$PORT" "$APP_KEY" <<'PYEOF'
import sys, time, httpx
port, key = sys.argv[1:]
base = f"http://127.0.0.1:{port}"
for _ in range(100):
    try:
        if httpx.get(f"{base}/healthz").status_code == 200:
            break
    except httpx.TransportError:
        time.sleep(0.1)
question = "What should I eat in Porto?"
answer = httpx.post(f"{base}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                    json={"model": "travel-assistant", "max_tokens": 40, "messages": [
                        {"role": "system", "content": "You are a friendly travel agent. "
                         "Answer briefly and concretely."},
                        {"role": "user", "content": question}]}, timeout=60).json()
print(f"Q: {question}\nA: {answer['choices'][0]['message']['content']}")
print(f"trace {answer['id'].removeprefix('chatcmpl-')}, usage {answer['usage']}")
PYEOF
step "an application behind the gateway: the openai client asks, its users send corrections back"
"$PY" examples/app_with_feedback.py "http://127.0.0.1:$PORT" "$APP_KEY" 24
sleep 1  # traces are written in batches (every 50 ms)

step "llmops traces list: what production saw, with latency and tokens"
llmops traces list --route travel-assistant --limit 5

step "drift: this traffic against the training data (statistical tests, HTML report with charts)"
llmops monitor drift --route travel-assistant --reference dataset:travel-qa@1 --window 1h \
  --embeddings tfidf --html "$LLMOPS_HOME/drift.html" --quiet

step "a feedback monitor that retrains when users are unhappy (the server runs it every hour)"
llmops monitor create unhappy-users --check feedback --route travel-assistant --window 1h \
  --every 1h --on-alert retrain:examples/pipelines/retrain.yaml

step "run it now: the alert starts the retrain pipeline (feedback -> dataset -> LoRA -> gate -> promote)"
llmops monitor run unhappy-users --json > "$LLMOPS_HOME/alert.json"
"$PY" - "$LLMOPS_HOME/alert.json" <<'PYEOF'
import json, os, sys, time
alert = json.load(open(sys.argv[1]))["alert"]
print(f"alert: {alert['summary']}")
action = alert["action"]
print(f"pipeline {action['pipeline']} started (pid {action['pid']})")
while True:  # the pipeline runs in its own process; wait for it here
    try:
        os.kill(action["pid"], 0)
    except OSError:
        break
    time.sleep(1)
report = json.load(open(action["output"]))
print(f"datasets {report['datasets']} -> run {report['run_id']} -> {report['model']}")
for gate in report["promotion"]["gates"]:
    print(f"gate {gate['expression']}: candidate {gate['candidate']:.3f} vs "
          f"{gate['baseline']} {gate['threshold']:.3f}: {'pass' if gate['passed'] else 'FAIL'}")
print(f"pipeline: {report['status']}")
PYEOF

step "the same question again: the gateway now answers with the new production version"
sleep 3  # running gateways re-read aliases every 2 s
TRACE=$("$PY" - "$PORT" "$APP_KEY" <<'PYEOF'
import sys, httpx
port, key = sys.argv[1:]
question = "Any budget tips for Dubrovnik?"
reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60,
                   headers={"Authorization": f"Bearer {key}"},
                   json={"model": "travel-assistant", "max_tokens": 40, "messages": [
                       {"role": "system", "content": "You are a friendly travel agent. "
                        "Answer briefly and concretely."},
                       {"role": "user", "content": question}]})
print(f"Q: {question}\nA: {reply.json()['choices'][0]['message']['content']}", file=sys.stderr)
print(reply.headers["x-llmops-trace-id"])
PYEOF
)
sleep 1
llmops traces show "$TRACE"

step "llmops lineage show trace:$TRACE: from this answer back to the feedback that trained its model"
llmops lineage show "trace:$TRACE" --depth 4

kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT

step "llmops keys list"
llmops keys list
echo
echo "Done. Everything lives in $LLMOPS_HOME (delete it when you are finished)."
