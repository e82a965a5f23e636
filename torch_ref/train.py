"""The study's protocol as a PyTorch user writes it: DataLoader, torch.optim.Adam, early stopping.

`train_and_evaluate(config, split, out)` trains every seed and learning rate of a TrainConfig,
one after the other, and writes the same run directory as `fmnist train` (see
`fmnist_jax.rundir`), with the final weights in `checkpoint.pt`.
"""

import io
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fmnist_jax import protocol, rundir
from fmnist_jax.config import TrainConfig
from fmnist_jax.data import Split
from fmnist_jax.report import write_summary
from torch_ref.models import build_model


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    """NHWC float32 images (as in `Split`) become the NCHW tensors PyTorch models take."""
    return TensorDataset(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
                         torch.from_numpy(labels.astype(np.int64)))


def datasets(split: Split) -> dict[str, TensorDataset]:
    """The split's train, validation and test sets as TensorDatasets."""
    return {"train": dataset(split.x_train, split.y_train), "val": dataset(split.x_val, split.y_val),
            "test": dataset(split.x_test, split.y_test)}


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
               labels: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """One optimizer step on a mini-batch's mean cross-entropy; returns that loss."""
    optimizer.zero_grad()
    with torch.autocast(images.device.type, torch.bfloat16, enabled=bf16):
        loss = nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device,
             bf16: bool = False) -> dict:
    """Per-sample mean loss, accuracy and confusion matrix (rows true, columns predicted)."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    confusion = torch.zeros(protocol.NUM_CLASSES ** 2, dtype=torch.int64, device=device)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            logits = model(images).float()
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum")
        confusion += torch.bincount(labels * protocol.NUM_CLASSES + logits.argmax(1),
                                    minlength=protocol.NUM_CLASSES ** 2)
    confusion = confusion.reshape(protocol.NUM_CLASSES, protocol.NUM_CLASSES).cpu()
    n = int(confusion.sum())
    return {"loss": loss_sum.item() / n, "accuracy": int(confusion.trace()) / n,
            "confusion_matrix": confusion.tolist()}


def train_run(config: TrainConfig, data: dict[str, TensorDataset], seed: int,
              learning_rate: float, device: torch.device) -> tuple[dict, dict]:
    """Trains one seed to the early-stopping rule; returns its results entry and state_dict."""
    torch.manual_seed(seed)
    model = build_model(config.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    train_loader = DataLoader(data["train"], batch_size=config.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(seed),
                              pin_memory=device.type == "cuda")
    val_loader = DataLoader(data["val"], batch_size=config.eval_batch_size)
    bf16 = config.precision == "bf16"
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    best_loss, wait, best_epoch, epoch, stopped = math.inf, 0, 0, 0, None
    best_state = None
    start = time.perf_counter()
    while stopped is None:
        model.train()
        loss_sum = torch.zeros((), device=device)
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            loss_sum += train_step(model, optimizer, images, labels, bf16) * len(labels)
        train_loss = loss_sum.item() / len(data["train"])
        val = evaluate(model, val_loader, device, bf16)
        epoch += 1
        best_loss, wait = (float(v) for v in protocol.early_stopping_update(best_loss, wait,
                                                                            val["loss"]))
        if wait == 0:
            best_epoch = epoch
            if config.restore_best:
                best_state = _cpu_state(model)
        for name, value in zip(history, (train_loss, val["loss"], val["accuracy"])):
            history[name].append(value)
        if config.progress:
            print(f"seed {seed} | lr {learning_rate:g} | epoch {epoch:4d} | train loss "
                  f"{train_loss:.4f} | val loss {val['loss']:.4f} | val acc {val['accuracy']:.4f}"
                  f" | wait {int(wait)} | {time.perf_counter() - start:7.1f} s", flush=True)
        if not (math.isfinite(train_loss) and math.isfinite(val["loss"])):
            stopped = "diverged"
        elif protocol.should_stop(wait, epoch, config.patience, config.max_epochs):
            stopped = "patience" if wait >= config.patience else "max_epochs"
    time_s = time.perf_counter() - start
    if config.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    test = evaluate(model, DataLoader(data["test"], batch_size=config.eval_batch_size), device,
                    bf16)
    run = {"seed": seed, "learning_rate": learning_rate, "test_accuracy": test["accuracy"],
           "test_loss": test["loss"], "confusion_matrix": test["confusion_matrix"],
           "epochs": epoch, "stopped": stopped,
           "best_val_loss": best_loss if math.isfinite(best_loss) else None,
           "best_epoch": best_epoch, "time_s": time_s, "history": history}
    return run, _cpu_state(model)


def train_and_evaluate(config: TrainConfig, split: Split, out: Path,
                       device: torch.device | None = None) -> tuple[dict, dict]:
    """Trains every (learning rate, seed) of `config`, writes the run directory `out` and its
    summary; returns the results (with histories) and the summary."""
    device = device or default_device()
    _set_precision(config.precision)
    data = datasets(split)
    runs, checkpoint = [], {}
    start = time.perf_counter()
    for learning_rate in config.learning_rates:
        for seed in range(config.seed, config.seed + config.seeds):
            run, state = train_run(config, data, seed, learning_rate, device)
            runs.append(run)
            checkpoint[f"seed-{seed}-lr-{learning_rate:g}"] = state
    results = {"framework": "torch", "model": config.model, "device": _describe(device),
               "wall_time_s": time.perf_counter() - start, "compile_time_s": None, "runs": runs}
    rundir.write_run(out, {**config.to_json(), "framework": "torch"}, results)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    rundir.write_atomic(Path(out) / "checkpoint.pt", buffer.getvalue())
    return results, write_summary(out)


def load_checkpoint(run_dir: Path) -> dict[str, dict]:
    """The state_dicts of a run directory's checkpoint.pt, keyed "seed-<n>-lr-<lr>"."""
    return torch.load(Path(run_dir) / "checkpoint.pt", weights_only=True)


def _cpu_state(model: nn.Module) -> dict:
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def _set_precision(precision: str) -> None:
    """float32 means full-precision matmuls and convolutions (no TF32, which cuDNN allows by
    default); tf32 allows it for both; bf16 trains under autocast (see `train_run`)."""
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
