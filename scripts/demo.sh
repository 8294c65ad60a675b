#!/usr/bin/env bash
# `make demo`: the lifecycle that exists so far, in a throw-away home folder.
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

step "llmops keys list"
llmops keys list
echo
echo "Done. Everything lives in $LLMOPS_HOME (delete it when you are finished)."
