"""K torch_ref models trained at once, PyTorch's own way: `torch.func.stack_module_state`
stacks their parameters, `functional_call` under `vmap` computes every model's gradient on its
own batch in one call, and one `torch.optim.Adam` steps the stacked tensors (Adam is
elementwise, so that is K independent Adams). The peer of JAX's vmapped seeds in
`scripts/bench.py`; `compile=True` wraps the gradient in `torch.compile`.
"""

import copy

import torch
from torch import nn

from torch_ref.models import build_model


class FuncSeeds:
    """`seeds` freshly initialised models of `model`, stacked, with one Adam over them."""

    def __init__(self, model: str, seeds: int, learning_rate: float, device: torch.device,
                 bf16: bool = False, compile: bool = False):
        models = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            models.append(build_model(model).to(device))
        params, self.buffers = torch.func.stack_module_state(models)
        self.params = {name: value.detach() for name, value in params.items()}
        skeleton = copy.deepcopy(models[0]).to("meta")

        def loss(params, buffers, images, labels):
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                logits = torch.func.functional_call(skeleton, (params, buffers), (images,))
            return nn.functional.cross_entropy(logits.float(), labels)

        gradients = torch.func.vmap(torch.func.grad(loss))
        self.gradients = torch.compile(gradients) if compile else gradients
        self.optimizer = torch.optim.Adam(self.params.values(), lr=learning_rate)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """One Adam step of every model on its own batch: images (K, B, C, H, W), labels (K, B)."""
        for name, grad in self.gradients(self.params, self.buffers, images, labels).items():
            self.params[name].grad = grad
        self.optimizer.step()
