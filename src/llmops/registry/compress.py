"""Cheaper models from registered versions: merge a LoRA adapter, quantize.

    merge_version(ref)        adapter + its base -> one full version (peft merge_and_unload)
    quantize_version(ref, m)  full (or merged) weights -> int8-dynamic (CPU) or
                              bitsandbytes 8/4-bit (CUDA), with the size before and after
                              and, given an eval set, the quality change

Every new version is an ordinary registered version (format ``full``, safetensors), with
lineage to what it was made from. An int8-dynamic folder holds the int8 weights, their
per-channel scales and zero points, and the float tensors, all in safetensors, plus
`QUANTIZATION_FILE` naming the method and the quantized modules; `load_compressed`
rebuilds the quantized modules from it (no pickle), and `training.base.load_model` calls
it, so evaluation and the gateway load such a version like any other. A bitsandbytes
folder is what transformers itself saves (its ``quantization_config`` in config.json).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from llmops.errors import InvalidInput
from llmops.registry.models import ModelVersion

QUANTIZATION_FILE = "llmops-quantization.json"
WEIGHTS_FILE = "model.safetensors"
METHODS = ("int8-dynamic", "bnb-8bit", "bnb-4bit")
Progress = Callable[[int, int], None]


class QuantizeResult(BaseModel):
    """A quantized version, its size against the source's, and the quality change on the
    eval set when one was given (``after - before`` per metric)."""

    version: ModelVersion
    source: str  # the source version's reference
    method: str
    size_before: int
    size_after: int
    eval_data: str | None = None
    before: dict[str, float] = Field(default_factory=dict)
    after: dict[str, float] = Field(default_factory=dict)
    delta: dict[str, float] = Field(default_factory=dict)
    evaluations: list[str] = Field(default_factory=list)  # eval ids: source, quantized


def _steps(progress: Progress | None, total: int) -> Callable[[], None]:
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    return step


@contextmanager
def _workdir() -> Iterator[Path]:
    from llmops.workspace import Workspace

    tmp = Workspace.open().settings.home_path / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="compress-", dir=tmp))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _folder_bytes(folders: list[Path]) -> int:
    return sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.is_file())


# -- merge ----------------------------------------------------------------------------------
def merge_version(ref: str, *, name: str | None = None,
                  progress: Progress | None = None) -> ModelVersion:
    """Merge the LoRA adapter version `ref` into its base: a new full version of `name`
    (default: the adapter's model name).

    Lineage: ``adapter -> merged`` (merged) and ``adapter's base -> merged`` (base).

    Raises:
        InvalidInput: `ref` is not an adapter version (nothing is registered).
    """
    from llmops.refs import check_name
    from llmops.registry import open_registry
    from llmops.training.base import load_model, load_tokenizer, resolve_base

    registry = open_registry()
    adapter = registry.get(ref)
    if adapter.format != "lora":
        raise InvalidInput(f"{adapter.ref} is not a LoRA adapter (its format is "
                           f"{adapter.format!r}): only adapter versions can be merged into "
                           "their base")
    target = check_name(name or adapter.name, what="model name")
    step = _steps(progress, 4)
    base = resolve_base(adapter.ref)  # fetches the adapter and every base below it
    step()
    model = load_model(base)  # peft merge_and_unload, adapter by adapter
    tokenizer = load_tokenizer(base)
    step()
    with _workdir() as out:
        model.save_pretrained(out / "model", safe_serialization=True)
        tokenizer.save_pretrained(out / "model")
        step()
        version = registry.register(
            target, out / "model", format="full", base=adapter.base,
            base_version_id=adapter.base_version_id,
            sources={**adapter.sources, "merged": adapter.ref},
            description=f"{adapter.ref} merged into its base",
            lineage_from=[(f"model:{adapter.id}", "merged")])
    step()
    return version


# -- quantize -------------------------------------------------------------------------------
def check_method(method: str) -> None:
    """Refuse an unknown method, and a bitsandbytes one without CUDA or bitsandbytes,
    before anything is resolved or loaded."""
    if method not in METHODS:
        raise InvalidInput(f"unknown quantization method {method!r}: use one of "
                           f"{', '.join(METHODS)}")
    if method.startswith("bnb-"):
        import torch

        if not torch.cuda.is_available():
            raise InvalidInput(f"--method {method} quantizes with bitsandbytes, which needs a "
                               "CUDA GPU; on this machine use --method int8-dynamic")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise InvalidInput(f"--method {method} needs bitsandbytes: pip install "
                               "bitsandbytes") from None


@contextmanager
def _quiet_quantization() -> Iterator[None]:
    """torch.ao's eager quantization warns that it moves to torchao; it is what this
    torch offers for dynamic int8 on CPU, so the warning is noise for the user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, "
                                r"torch\.quantize_per_channel", category=UserWarning)
        yield


def _linear_names(model: Any) -> list[str]:
    """The nn.Linear modules to quantize: all but the output head, which is tied to the
    embeddings in most small models and decides the logits (GPTQ and AWQ keep it too)."""
    import torch

    head = model.get_output_embeddings()
    return [n for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and m is not head]


def _int8_dynamic(model: Any, out: Path) -> None:
    """Quantize every Linear but the head to int8 (per output channel), save as
    safetensors plus `QUANTIZATION_FILE`."""
    import torch
    from safetensors.torch import save_file

    names = _linear_names(model)
    if not names:
        raise InvalidInput("the model has no linear layers to quantize")
    spec = dict.fromkeys(names, torch.ao.quantization.per_channel_dynamic_qconfig)
    with _quiet_quantization():
        quantized = torch.ao.quantization.quantize_dynamic(model.float().eval(), spec,
                                                           dtype=torch.qint8)
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in quantized.state_dict().items():
        if not isinstance(value, torch.Tensor) or "._packed_params" in key:
            continue
        if key.rsplit(".", 1)[0] in names:  # a quantized module's scale/zero_point buffers
            continue
        if value.data_ptr() in seen:  # tied weights are stored once and tied again on load
            continue
        seen.add(value.data_ptr())
        tensors[key] = value.contiguous()
    for name in names:
        module = quantized.get_submodule(name)
        weight = module.weight()
        tensors[f"{name}.weight"] = weight.int_repr().contiguous()
        tensors[f"{name}.weight_scale"] = weight.q_per_channel_scales().float().contiguous()
        tensors[f"{name}.weight_zero_point"] = weight.q_per_channel_zero_points().contiguous()
        bias = module.bias()
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach().contiguous()
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt",
                                                         "llmops": "int8-dynamic"})
    model.config.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
    (out / QUANTIZATION_FILE).write_text(json.dumps({
        "method": "int8-dynamic", "dtype": "qint8", "scheme": "per_channel_affine",
        "axis": 0, "modules": names, "device": "cpu", "torch": torch.__version__},
        indent=2, sort_keys=True) + "\n")


def _load_int8_dynamic(folder: Path, spec: dict[str, Any]) -> Any:
    """Rebuild the quantized model: the architecture from config.json, float tensors
    loaded as they are, each listed Linear replaced by a dynamic int8 Linear holding the
    stored int8 weights, scales and zero points (bit for bit what was saved)."""
    import torch
    from safetensors.torch import load_file
    from torch.ao.nn.quantized import dynamic as nnqd
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.initialization import no_init_weights

    config = AutoConfig.from_pretrained(folder)
    with no_init_weights():
        model: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tensors = load_file(str(folder / WEIGHTS_FILE))
    names = list(spec["modules"])
    packed = {n: {part: tensors.pop(f"{n}.{part}") for part in
                  ("weight", "weight_scale", "weight_zero_point", "bias")
                  if f"{n}.{part}" in tensors} for n in names}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    head = model.get_output_embeddings()
    expected = {f"{n}.{part}" for n in names for part in ("weight", "bias")}
    expected |= {n for n, p in model.named_parameters(remove_duplicate=False)
                 if head is not None and p is head.weight}  # tied to the embeddings
    missing = [k for k in missing if k not in expected]
    lacking = [n for n in names if {"weight", "weight_scale", "weight_zero_point"}
               - set(packed[n])]
    if missing or unexpected or lacking:
        raise InvalidInput(f"int8-dynamic weights in {str(folder)!r} do not match the "
                           f"model: missing {(missing + lacking)[:5]}, unexpected "
                           f"{unexpected[:5]}")
    with _quiet_quantization():
        for name in names:
            linear, parts = model.get_submodule(name), packed[name]
            scale, zero = parts["weight_scale"], parts["weight_zero_point"]
            q = torch.quantize_per_channel(
                (parts["weight"].float() - zero.unsqueeze(1).float()) * scale.unsqueeze(1),
                scale.double(), zero.long(), 0, torch.qint8)
            replaced = nnqd.Linear(linear.in_features, linear.out_features,
                                   bias_=linear.bias is not None, dtype=torch.qint8)
            replaced.set_weight_bias(q, parts.get("bias"))
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, replaced)
    model.tie_weights()
    model.eval()
    model.llmops_device = "cpu"  # dynamic int8 kernels run on CPU only
    return model


def quantization_method(folder: Path) -> str | None:
    """The quantization method of a version's folder, or None for plain weights."""
    marker = folder / QUANTIZATION_FILE
    return str(json.loads(marker.read_text()).get("method")) if marker.is_file() else None


def load_compressed(folder: Path) -> Any | None:
    """The model in `folder` when it is a quantized version, else None.

    Raises:
        InvalidInput: a bitsandbytes version on a machine without CUDA, or an unknown
            quantization method in `QUANTIZATION_FILE`.
    """
    marker = folder / QUANTIZATION_FILE
    if not marker.is_file():
        return None
    spec = json.loads(marker.read_text())
    method = spec.get("method")
    if method == "int8-dynamic":
        return _load_int8_dynamic(folder, spec)
    if method in ("bnb-8bit", "bnb-4bit"):
        import torch

        if not torch.cuda.is_available():
            raise InvalidInput(f"{str(folder)!r} is quantized with bitsandbytes ({method}) "
                               "and loads only on a CUDA GPU")
        from transformers import AutoModelForCausalLM

        model: Any = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True,
                                                          device_map={"": 0})
        model.llmops_device = "cuda:0"  # placed by bitsandbytes; `.to` is refused
        return model
    raise InvalidInput(f"{str(folder)!r}: unknown quantization method {method!r} in "
                       f"{QUANTIZATION_FILE}")


def _bnb(base: Any, method: str, out: Path) -> None:
    import torch
    from transformers import BitsAndBytesConfig

    from llmops.training.base import ResolvedBase, load_model

    if len(base.folders) > 1:  # bitsandbytes quantizes while loading: merge the adapters first
        load_model(base).save_pretrained(out.parent / "merged", safe_serialization=True)
        base = ResolvedBase(base.ref, [out.parent / "merged"], base.version)
    if method == "bnb-4bit":
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                    bnb_4bit_compute_dtype=torch.bfloat16)
    else:
        config = BitsAndBytesConfig(load_in_8bit=True)
    model = load_model(base, quantization=config)
    model.save_pretrained(out, safe_serialization=True)
    (out / QUANTIZATION_FILE).write_text(json.dumps({
        "method": method, "device": "cuda", "torch": torch.__version__}, indent=2,
        sort_keys=True) + "\n")


def quantize_version(ref: str, method: str, *, name: str | None = None,
                     eval_data: str | None = None, metrics: list[str] | None = None,
                     max_new_tokens: int | None = None, progress: Progress | None = None
                     ) -> QuantizeResult:
    """Quantize the version `ref` (an adapter is merged first) into a new full version of
    `name` (default: the source's model name).

    The version records ``size.before_bytes`` (the files the source needs: its weights,
    or an adapter and its bases), ``size.after_bytes`` and ``size.ratio``. With
    `eval_data`, the source and the quantized version are both evaluated on it (the
    evaluation package; answers are cached) and ``quantize.before.M`` and
    ``quantize.delta.M`` are added for each metric M (``eval.M`` is the new score).

    Raises:
        InvalidInput: an unknown method; bitsandbytes without CUDA; an unknown metric, an
            eval set without references; all before anything is registered.
    """
    from llmops import datasets
    from llmops.evaluation import evaluate, make_suite
    from llmops.refs import check_name
    from llmops.registry import open_registry
    from llmops.training.base import load_model, load_tokenizer, resolve_base

    check_method(method)
    if eval_data is None and metrics:
        raise InvalidInput("--metric needs --eval DATASET_REF (the set to measure on)")
    suite = None
    if eval_data is not None:
        suite = make_suite({"data": eval_data, "metrics": metrics or None,
                            "max_new_tokens": max_new_tokens})
        datasets.get_version(suite.data)
    registry = open_registry()
    source = registry.get(ref)
    target = check_name(name or source.name, what="model name")
    step = _steps(progress, 4 + (2 if suite else 0))
    base = resolve_base(source.ref)
    already = quantization_method(base.folders[0])
    if already is not None:
        raise InvalidInput(f"{source.ref} is already quantized ({already}); quantize the "
                           "version it was made from")
    size_before = _folder_bytes(base.folders)
    step()
    result_before: Any = None
    if suite is not None:  # before quantizing: a bad eval set fails with nothing registered
        result_before = evaluate(source.ref, suite=suite)
        step()
    with _workdir() as out:
        folder = out / "model"
        if method == "int8-dynamic":
            _int8_dynamic(load_model(base), folder)
        else:
            _bnb(base, method, folder)
        load_tokenizer(base).save_pretrained(folder)
        step()
        size_after = _folder_bytes([folder])
        sizes = {"size.before_bytes": float(size_before), "size.after_bytes": float(size_after),
                 "size.ratio": size_after / size_before if size_before else 0.0}
        version = registry.register(
            target, folder, format="full", base=source.base,
            base_version_id=source.base_version_id,
            sources={**source.sources, "quantization": method, "quantized": source.ref},
            metrics=sizes, description=f"{source.ref} quantized ({method})",
            lineage_from=[(f"model:{source.id}", "quantized")])
        step()
    result = QuantizeResult(version=version, source=source.ref, method=method,
                            size_before=size_before, size_after=size_after)
    if suite is not None:
        result_after = evaluate(version.ref, suite=suite)
        step()
        before = {k: result_before.metrics[k] for k in suite.metrics
                  if k in result_before.metrics}
        after = {k: result_after.metrics[k] for k in suite.metrics
                 if k in result_after.metrics}
        delta = {k: after[k] - before[k] for k in after if k in before}
        recorded = {**{f"quantize.before.{k}": v for k, v in before.items()},
                    **{f"quantize.delta.{k}": v for k, v in delta.items()}}
        version = registry.record_metrics(version.ref, recorded)
        result = result.model_copy(update={
            "version": version, "eval_data": suite.data, "before": before, "after": after,
            "delta": delta, "evaluations": [result_before.id, result_after.id]})
    step()
    return result


def check_trainable(base: Any) -> None:
    """Refuse to train on, or put an adapter on, a quantized version (a `ResolvedBase`):
    its int8 or 4-bit weights take no gradient and no merge."""
    method = quantization_method(base.folders[0])
    if method is not None:
        raise InvalidInput(f"{base.ref} is quantized ({method}): it serves and evaluates, but "
                           "does not train or take an adapter; use the version it was "
                           "quantized from")
