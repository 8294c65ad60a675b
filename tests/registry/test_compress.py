"""Merging a LoRA version into its base and quantizing a version, end to end on a tiny
in-process model on CPU: the new version's files, lineage and metrics, the reload through
the registry, and the bad inputs that must change nothing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from llmops import registry
from llmops.config import Settings
from llmops.errors import InvalidInput
from llmops.registry.compress import (
    QUANTIZATION_FILE,
    load_compressed,
    merge_version,
    quantize_version,
)
from llmops.tracking import open_tracking
from llmops.workspace import Workspace
from tests.helpers import table_counts

IDS = torch.tensor([[7, 30, 41, 52, 63, 74, 85, 96]])


def _logits(model: Any) -> torch.Tensor:
    with torch.no_grad():
        return model(IDS).logits.float()


def _edges(node: str) -> set[tuple[str, str, str]]:
    """The edges straight into `node`."""
    graph = open_tracking().lineage(node)
    return {(e.source, e.target, e.relation) for e in graph.upstream if e.target == node}


@pytest.fixture
def adapter(home: Settings, tiny_base: Path, tmp_path: Path) -> tuple[Any, Any]:
    """(base version, LoRA version): a random, non-zero adapter on the registered tiny base,
    so merging changes the weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = registry.register("tiny", tiny_base)
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base), LoraConfig(
        r=4, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM"))
    model.save_pretrained(tmp_path / "adapter")
    AutoTokenizer.from_pretrained(tiny_base).save_pretrained(tmp_path / "adapter")
    lora = registry.register("travel", tmp_path / "adapter", format="lora", base=base.ref,
                             base_version_id=base.id)
    return base, lora


def test_merge_makes_a_full_version_equal_to_base_plus_adapter(adapter: tuple[Any, Any],
                                                               tiny_base: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, lora = adapter
    seen: list[tuple[int, int]] = []
    merged = merge_version(lora.ref, progress=lambda d, t: seen.append((d, t)))
    assert merged.ref == "model:travel@2" and merged.format == "full"
    assert seen[-1] == (4, 4)
    assert merged.base_version_id == base.id and merged.sources["merged"] == lora.ref
    assert _edges(f"model:{merged.id}") == {
        (f"model:{lora.id}", f"model:{merged.id}", "merged"),
        (f"model:{base.id}", f"model:{merged.id}", "base")}
    folder = registry.local_path(merged.ref)
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not list(folder.glob("adapter_*")) and not list(folder.glob("*.bin"))

    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base),
                                         registry.local_path(lora.ref)).eval()
    plain = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert torch.allclose(_logits(plain), _logits(unmerged), atol=1e-4)
    assert not torch.allclose(_logits(plain),
                              _logits(AutoModelForCausalLM.from_pretrained(tiny_base)),
                              atol=1e-3)

    named = merge_version(lora.ref, name="travel-merged")
    assert named.ref == "model:travel-merged@1"


def test_int8_quantize_registers_reloads_and_records_size_and_quality(
        adapter: tuple[Any, Any], tiny_base: Path) -> None:
    from transformers import AutoModelForCausalLM

    from llmops.evaluation import evaluate
    from llmops.evaluation.generate import LocalGenerator

    full = registry.register("tiny", tiny_base)  # tiny@2: identical content, full weights
    result = quantize_version(full.ref, "int8-dynamic", name="tiny-int8",
                              eval_data="travel-qa@1#val", metrics=["rougeL", "chrf"],
                              max_new_tokens=8)
    version = result.version
    assert version.ref == "model:tiny-int8@1" and version.format == "full"
    assert version.sources["quantization"] == "int8-dynamic"
    assert (f"model:{full.id}", f"model:{version.id}", "quantized") in _edges(
        f"model:{version.id}")
    assert 0 < result.size_after < result.size_before
    assert version.metrics["size.before_bytes"] == result.size_before
    assert version.metrics["size.after_bytes"] == result.size_after
    assert version.metrics["size.ratio"] == pytest.approx(result.size_after
                                                          / result.size_before)
    for m in ("rougeL", "chrf"):
        assert version.metrics[f"eval.{m}"] == result.after[m]
        assert version.metrics[f"quantize.before.{m}"] == result.before[m]
        assert version.metrics[f"quantize.delta.{m}"] == pytest.approx(
            result.after[m] - result.before[m])
    assert registry.get(full.ref).metrics["eval.rougeL"] == result.before["rougeL"]

    folder = registry.local_path(version.ref)
    spec = json.loads((folder / QUANTIZATION_FILE).read_text())
    assert spec["method"] == "int8-dynamic" and "model.layers.0.mlp.down_proj" in spec["modules"]
    assert "lm_head" not in spec["modules"]
    assert not [p for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth")]

    # reloaded through the registry (the path evaluation and the gateway use)
    generator = LocalGenerator(version.ref)
    model = generator.model
    assert generator.device == "cpu"
    layer = model.model.layers[0].mlp.down_proj
    assert type(layer).__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert model.lm_head.weight is model.model.embed_tokens.weight  # still tied
    float_model = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    ref = _logits(float_model)
    error = (_logits(model) - ref).abs().max() / ref.abs().max()
    assert 0 < error < 0.05  # quantized, and close
    # bit for bit what quantize_dynamic makes of the float weights
    with warnings.catch_warnings():  # torch.ao's notice that it moves to torchao
        warnings.simplefilter("ignore")
        again = torch.ao.quantization.quantize_dynamic(
            float_model, {"model.layers.0.mlp.down_proj":
                          torch.ao.quantization.per_channel_dynamic_qconfig},
            dtype=torch.qint8)
    assert torch.equal(layer.weight().int_repr(),
                       again.model.layers[0].mlp.down_proj.weight().int_repr())
    assert len(generator.generate([[{"role": "user", "content": "Where to go?"}]],
                                  max_new_tokens=4)) == 1
    # and by the gateway's in-process engine
    import asyncio

    from llmops.gateway.engines import ChatRequest, LocalEngine

    async def ask() -> Any:
        engine = LocalEngine(version.ref)
        try:
            assert type(engine.model.model.layers[0].mlp.down_proj) is type(layer)
            return await engine.generate(ChatRequest(
                messages=[{"role": "user", "content": "Where to go?"}], max_tokens=4))
        finally:
            await engine.aclose()

    answer = asyncio.run(ask())
    assert answer.completion_tokens is not None and answer.completion_tokens > 0
    # evaluating the registered version again is served by the generation cache
    assert evaluate(version.ref, "travel-qa@1#val", metrics=["rougeL"],
                    max_new_tokens=8).cached > 0


def test_quantizing_an_adapter_merges_it_first(adapter: tuple[Any, Any]) -> None:
    base, lora = adapter
    result = quantize_version(lora.ref, "int8-dynamic")
    assert result.version.ref == "model:travel@2" and result.version.format == "full"
    assert result.version.base_version_id == base.id
    assert not result.delta and "quantize.delta.rougeL" not in result.version.metrics
    assert load_compressed(registry.local_path(result.version.ref)) is not None


def test_a_quantized_version_does_not_train(home: Settings, tiny_base: Path) -> None:
    from llmops.training import train

    source = registry.register("tiny", tiny_base)
    quantized = quantize_version(source.ref, "int8-dynamic").version
    before = table_counts(Workspace.open().store)
    with pytest.raises(InvalidInput, match=r"^model:tiny@2 is quantized \(int8-dynamic\): it "
                       "serves and evaluates, but does not train or take an adapter; use the "
                       "version it was quantized from$"):
        train(recipe="sft", base=quantized.ref, data="travel-qa@1", max_steps=1)
    with pytest.raises(InvalidInput, match=r"^model:tiny@2 is already quantized "
                       r"\(int8-dynamic\); quantize the version it was made from$"):
        quantize_version(quantized.ref, "int8-dynamic")
    assert table_counts(Workspace.open().store) == before


def test_bad_input_registers_nothing(adapter: tuple[Any, Any],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    base, lora = adapter
    store = Workspace.open().store
    before = table_counts(store)
    with pytest.raises(InvalidInput, match=r"^model:tiny@1 is not a LoRA adapter \(its format "
                       r"is 'full'\): only adapter versions can be merged into their base$"):
        merge_version(base.ref)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for method in ("bnb-8bit", "bnb-4bit"):
        # refused before the reference is even looked up, let alone any weights loaded
        with pytest.raises(InvalidInput, match=rf"^--method {method} quantizes with "
                           "bitsandbytes, which needs a CUDA GPU; on this machine use "
                           "--method int8-dynamic$"):
            quantize_version("model:no-such-model@9", method)
    with pytest.raises(InvalidInput, match=r"^unknown quantization method 'int4': use one of "
                       "int8-dynamic, bnb-8bit, bnb-4bit$"):
        quantize_version(base.ref, "int4")
    with pytest.raises(InvalidInput, match=r"^--metric needs --eval DATASET_REF"):
        quantize_version(base.ref, "int8-dynamic", metrics=["rougeL"])
    with pytest.raises(InvalidInput, match=r"^unknown metric rouge9: use bleu, chrf, "):
        quantize_version(base.ref, "int8-dynamic", eval_data="travel-qa@1#val",
                         metrics=["rouge9"])
    with pytest.raises(InvalidInput, match="travel-prefs@1 is a 'preference' dataset, which "
                       "has no references"):
        quantize_version(base.ref, "int8-dynamic", eval_data="travel-prefs@1")
    assert table_counts(store) == before
    assert [v.ref for v in registry.versions("tiny")] == ["model:tiny@1"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="bitsandbytes needs CUDA")
def test_bnb_4bit_quantize_and_reload_on_cuda(home: Settings, tiny_base: Path) -> None:
    pytest.importorskip("bitsandbytes")
    from llmops.evaluation.generate import LocalGenerator

    source = registry.register("tiny", tiny_base)
    result = quantize_version(source.ref, "bnb-4bit")
    assert result.size_after < result.size_before
    generator = LocalGenerator(result.version.ref)
    assert generator.device == "cuda:0"
    assert len(generator.generate([[{"role": "user", "content": "Hi"}]], max_new_tokens=4)) == 1


def test_cli_merge_quantize_and_refusals(adapter: tuple[Any, Any],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from llmops.cli.app import app

    runner = CliRunner()
    base, lora = adapter
    merged = runner.invoke(app, ["models", "merge", lora.ref, "--name", "travel-full",
                                 "--json"])
    assert merged.exit_code == 0, merged.output
    assert json.loads(merged.stdout)["format"] == "full"
    quantized = runner.invoke(app, ["models", "quantize", "model:travel-full@1", "--method",
                                    "int8-dynamic", "--eval", "travel-qa@1#val", "--metric",
                                    "rougeL,bleu", "--max-new-tokens", "4", "--json"])
    assert quantized.exit_code == 0, quantized.output
    shown = json.loads(quantized.stdout)
    assert shown["version"]["name"] == "travel-full" and shown["version"]["version"] == 2
    assert set(shown["delta"]) == {"rougeL", "bleu"}
    text = runner.invoke(app, ["models", "quantize", base.ref, "--method", "int8-dynamic",
                               "--name", "tiny-int8", "-q"])
    assert text.exit_code == 0 and "registered model:tiny-int8@1 (int8-dynamic)" in text.stdout

    store = Workspace.open().store
    before = table_counts(store)
    usage = runner.invoke(app, ["models", "quantize", base.ref, "--method", "int3"])
    assert usage.exit_code == 2 and "'int3': use one of int8-dynamic, bnb-8bit, bnb-4bit" in (
        " ".join(usage.output.replace("│", " ").split()))
    refused = runner.invoke(app, ["models", "merge", base.ref])
    assert refused.exit_code == 1 and "is not a LoRA adapter" in str(refused.exception)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    no_gpu = runner.invoke(app, ["models", "quantize", base.ref, "--method", "bnb-8bit"])
    assert no_gpu.exit_code == 1 and no_gpu.output == ""  # refused before the progress bar
    assert "needs a CUDA GPU" in str(no_gpu.exception)
    assert table_counts(store) == before


def test_an_int8_version_is_not_exported_for_vllm(home: Settings, tiny_base: Path,
                                                  tmp_path: Path) -> None:
    from llmops.registry.export import export_version

    quantized = quantize_version(registry.register("tiny", tiny_base).ref,
                                 "int8-dynamic").version
    with pytest.raises(InvalidInput, match=r"^model:tiny@2 is quantized with torch's "
                       "int8-dynamic, which runs in process on CPU and which vLLM cannot "
                       "load; export the version it was quantized from"):
        export_version(quantized.ref, tmp_path / "out")
    assert not (tmp_path / "out").exists()
