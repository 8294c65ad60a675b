"""A tracked training run: fit a small linear model by gradient descent, in pure Python.

Every step's loss is logged, the hyperparameters are params, and the learned weights are
saved as a folder artifact. Prints the run id.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

import llmops


def main(epochs: int = 200, lr: float = 0.1, seed: int = 42) -> str:
    rng = random.Random(seed)
    true_w, true_b = [2.0, -3.0, 0.5], 1.0
    xs = [[rng.uniform(-1, 1) for _ in true_w] for _ in range(256)]
    ys = [sum(w * x for w, x in zip(true_w, row, strict=True)) + true_b + rng.gauss(0, 0.1)
          for row in xs]
    w, b = [0.0] * len(true_w), 0.0
    with llmops.start_run(experiment="quickstart", name="linear-gd") as run:
        run.log_params({"epochs": epochs, "lr": lr, "seed": seed, "features": len(true_w)})
        for epoch in range(epochs):
            grads, grad_b, loss = [0.0] * len(w), 0.0, 0.0
            for row, y in zip(xs, ys, strict=True):
                err = sum(wi * xi for wi, xi in zip(w, row, strict=True)) + b - y
                loss += err * err / len(xs)
                for i, xi in enumerate(row):
                    grads[i] += 2 * err * xi / len(xs)
                grad_b += 2 * err / len(xs)
            w = [wi - lr * g for wi, g in zip(w, grads, strict=True)]
            b -= lr * grad_b
            run.log_metrics({"loss": loss, "weight_error": sum(
                abs(a - t) for a, t in zip(w, true_w, strict=True))}, step=epoch)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "model"
            out.mkdir()
            (out / "weights.json").write_text(json.dumps({"w": w, "b": b}, indent=2))
            (out / "config.json").write_text(json.dumps({"epochs": epochs, "lr": lr}))
            run.log_artifact(out)
    return run.id


if __name__ == "__main__":
    print(main(*(float(a) if "." in a else int(a) for a in sys.argv[1:])))
