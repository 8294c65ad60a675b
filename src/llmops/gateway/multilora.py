"""Many LoRA adapters in one batch for the price of one (S-LoRA's and Punica's idea, in
plain torch).

PEFT loads the adapters, each under its own name, into one base model. PEFT's own mixed
batch forward then runs one sub-batch per adapter in every wrapped layer, so a step costs
more the more distinct adapters it holds. `StackedLora` instead stacks, per wrapped linear
layer, every adapter's A and B into one tensor (slot 0 all zeros for rows without an
adapter; ranks padded with zeros; the scaling folded into B) and replaces the layer's
forward with

    base(x) + bmm(bmm(x, A[slot]ᵀ), B[slot]ᵀ)      slot: each row's adapter

whose cost does not depend on how many adapters the batch mixes. Only plain LoRA on
linear layers is stacked (`supports`); anything else keeps PEFT's mixed batch forward.
"""

from __future__ import annotations

import types
from typing import Any

BASE = "__base__"


def _lora_linears(model: Any) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def supports(model: Any) -> bool:
    """Whether every adapter of this PEFT model is plain LoRA on linear layers."""
    from peft.tuners.lora import Linear

    for module in _lora_linears(model):
        if type(module) is not Linear or module.lora_variant or module.fan_in_fan_out \
                or any(getattr(module, "lora_bias", {}).values()):
            return False
    return True


class StackedLora:
    """The stacked adapters of one PEFT model; `rebuild` after loading or dropping one."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.slots: dict[str, int] = {BASE: 0}
        self.index: Any = None  # (rows,) each row's slot, set before every forward call
        self.single: int | None = None  # the slot of every row, when they share one

    def rebuild(self, names: list[str]) -> None:
        import torch

        self.slots = {BASE: 0, **{name: i + 1 for i, name in enumerate(names)}}
        for module in _lora_linears(self.model):
            present = [n for n in names if n in module.lora_A]
            if not present:
                module.__dict__.pop("forward", None)  # PEFT's own forward again
                continue
            weight = module.lora_A[present[0]].weight
            rank = max(module.lora_A[n].weight.shape[0] for n in present)
            a = torch.zeros((len(names) + 1, rank, module.in_features), dtype=weight.dtype,
                            device=weight.device)
            b = torch.zeros((len(names) + 1, module.out_features, rank), dtype=weight.dtype,
                            device=weight.device)
            for name in present:
                slot, r = self.slots[name], module.lora_A[name].weight.shape[0]
                a[slot, :r] = module.lora_A[name].weight
                b[slot, :, :r] = module.lora_B[name].weight * module.scaling[name]
            module._llmops_stack = (a, b, self)
            module.forward = types.MethodType(_stacked_forward, module)

    def select(self, adapters: list[str], device: Any) -> None:
        """Set the slots of the rows of the next forward call."""
        import torch

        slots = [self.slots[a] for a in adapters]
        self.single = slots[0] if len(set(slots)) == 1 else None
        self.index = torch.tensor(slots, device=device)


def _stacked_forward(module: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
    import torch

    result = module.base_layer(x, *args, **kwargs)
    a, b, stack = module._llmops_stack
    if stack.single is not None:  # one adapter for the whole batch: no gathering
        if stack.single == 0:
            return result
        h = x.to(a.dtype) @ a[stack.single].T
        return result + (h @ b[stack.single].T).to(result.dtype)
    rows = x.shape[0]
    h = torch.bmm(x.reshape(rows, -1, x.shape[-1]).to(a.dtype), a[stack.index].transpose(1, 2))
    delta = torch.bmm(h, b[stack.index].transpose(1, 2))
    return result + delta.reshape(result.shape).to(result.dtype)
