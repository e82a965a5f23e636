"""The study's protocol as a PyTorch user writes it: DataLoader, torch.optim.Adam, early stopping.

`train_runs(config, split)` trains every seed and learning rate of a TrainConfig, one after the
other, and returns the results (the run-directory format of `fmnist_jax.reporting.rundir`) and the final
state_dicts. With a checkpoint directory it saves the running run's whole state (model,
optimizer, data-order generator and global RNG, early-stopping state, history, time) every
`config.checkpoint_every` epochs and each finished run once, and continues from what it finds
there: on the CPU a resumed run ends bit-identical to an uninterrupted one.
"""

import io
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fmnist_jax import protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import Split
from fmnist_jax.reporting import rundir
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
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, bf16: bool = False,
             loss_definition: str = protocol.EVAL_LOSSES[0]) -> dict:
    """Loss (by `loss_definition`, see `protocol.EVAL_LOSSES`), accuracy and confusion matrix
    (rows true, columns predicted) over a loader that keeps the set's order."""
    model.eval()
    weights = torch.from_numpy(protocol.eval_loss_weights(len(loader.dataset), loss_definition))
    loss = torch.zeros((), dtype=torch.float64, device=device)
    confusion, start = 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            logits = model(images).float()
        losses = nn.functional.cross_entropy(logits, labels, reduction="none")
        loss += (losses.double() * weights[start:start + len(labels)].to(device)).sum()
        start += len(labels)
        classes = logits.shape[1]
        confusion += torch.bincount(labels * classes + logits.argmax(1), minlength=classes ** 2)
    confusion = confusion.reshape(classes, classes).cpu()
    return {"loss": loss.item(), "accuracy": int(confusion.trace()) / int(confusion.sum()),
            "confusion_matrix": confusion.tolist()}


class _Run:
    """One seed's training: its model, optimizer, data order and early-stopping state, which
    `state()` and `restore()` save and load whole."""

    def __init__(self, config: TrainConfig, data: dict, seed: int, learning_rate: float,
                 device: torch.device, model_factory: Callable[[], nn.Module]):
        self.config, self.data, self.seed, self.lr, self.device = config, data, seed, learning_rate, device
        torch.manual_seed(seed)
        self.model = model_factory().to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=learning_rate)
        self.generator = torch.Generator().manual_seed(seed)
        self.loader = DataLoader(data["train"], batch_size=config.batch_size, shuffle=True,
                                 generator=self.generator, pin_memory=device.type == "cuda")
        self.history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
        self.best_loss, self.wait, self.best_epoch, self.epoch = math.inf, 0, 0, 0
        self.best_state, self.stopped, self.elapsed = None, None, 0.0

    def run_epoch(self) -> None:
        bf16 = self.config.precision == "bf16"
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        for images, labels in self.loader:
            images, labels = images.to(self.device), labels.to(self.device)
            loss_sum += train_step(self.model, self.optimizer, images, labels, bf16) * len(labels)
        train_loss = loss_sum.item() / len(self.data["train"])
        val = evaluate(self.model, DataLoader(self.data["val"], self.config.eval_batch_size),
                       self.device, bf16, self.config.eval_loss)
        self.epoch += 1
        self.best_loss, self.wait = (float(v) for v in protocol.early_stopping_update(
            self.best_loss, self.wait, val["loss"]))
        if self.wait == 0:
            self.best_epoch = self.epoch
            if self.config.restore_best:
                self.best_state = _cpu_state(self.model)
        for name, value in zip(self.history, (train_loss, val["loss"], val["accuracy"])):
            self.history[name].append(value)
        if not (math.isfinite(train_loss) and math.isfinite(val["loss"])):
            self.stopped = "diverged"
        elif protocol.should_stop(self.wait, self.epoch, self.config.patience,
                                  self.config.max_epochs):
            self.stopped = "patience" if self.wait >= self.config.patience else "max_epochs"

    def result(self) -> tuple[dict, dict]:
        """Tests the run (its last or, with restore_best, its best weights): results entry and
        the tested state_dict."""
        if self.config.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        test = evaluate(self.model, DataLoader(self.data["test"], self.config.eval_batch_size),
                        self.device, self.config.precision == "bf16", self.config.eval_loss)
        run = {"seed": self.seed, "learning_rate": self.lr, "test_accuracy": test["accuracy"],
               "test_loss": test["loss"], "confusion_matrix": test["confusion_matrix"],
               "epochs": self.epoch, "stopped": self.stopped,
               "best_val_loss": self.best_loss if math.isfinite(self.best_loss) else None,
               "best_epoch": self.best_epoch, "time_s": self.elapsed, "history": self.history}
        return run, _cpu_state(self.model)

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "rng": torch.get_rng_state(),
                "history": self.history, "best_state": self.best_state,
                "counters": [self.best_loss, self.wait, self.best_epoch, self.epoch, self.elapsed]}

    def restore(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.generator.set_state(saved["generator"])
        torch.set_rng_state(saved["rng"])
        self.history, self.best_state = saved["history"], saved["best_state"]
        self.best_loss, self.wait, self.best_epoch, self.epoch, self.elapsed = saved["counters"]


def train_run(config: TrainConfig, data: dict, seed: int, learning_rate: float,
              device: torch.device, checkpoint: Path | None = None, log=print,
              model_factory: Callable[[], nn.Module] | None = None,
              saved: dict | None = None) -> tuple[dict, dict]:
    """Trains one seed (of `config.model`, or of a fresh model from `model_factory`) to the
    early-stopping rule from its `saved` state (`_Run.state`) if any, saving its state to
    `checkpoint` every `config.checkpoint_every` epochs; returns its results entry and
    state_dict."""
    run = _Run(config, data, seed, learning_rate, device,
               model_factory or partial(build_model, config.model))
    if saved is not None:
        run.restore(saved)
    while run.stopped is None:
        start = time.perf_counter()
        run.run_epoch()
        run.elapsed += time.perf_counter() - start
        if config.progress:
            log(f"seed {seed} | lr {learning_rate:g} | epoch {run.epoch:4d} | train loss "
                f"{run.history['train_loss'][-1]:.4f} | val loss {run.history['val_loss'][-1]:.4f}"
                f" | val acc {run.history['val_accuracy'][-1]:.4f} | wait {run.wait} | "
                f"{run.elapsed:7.1f} s")
        if checkpoint is not None and run.stopped is None and run.epoch % config.checkpoint_every == 0:
            _save(checkpoint, run.state())
    return run.result()


def train_runs(config: TrainConfig, split: Split, log=print, checkpoint_dir: Path | None = None,
               device: torch.device | None = None,
               model_factory: Callable[[], nn.Module] | None = None) -> tuple[dict, dict]:
    """Trains every (learning rate, seed) of `config` one after the other (the study's
    `config.model`, or a fresh model from a user's `model_factory` per seed); returns the
    results (runs with histories) and the tested state_dicts keyed "seed-<n>-lr-<lr>"."""
    device = device or default_device()
    _set_precision(config.precision)
    data = datasets(split)
    runs, states = [], {}
    pairs = [(seed, lr) for lr in config.learning_rates
             for seed in range(config.seed, config.seed + config.seeds)]
    resuming = checkpoint_dir is not None
    for index, (seed, learning_rate) in enumerate(pairs):
        done = checkpoint_dir and Path(checkpoint_dir) / f"run-{index}-done.pt"
        if done and done.exists():
            saved = _load(done)
            run, state = saved["run"], saved["state"]
        else:
            running = checkpoint_dir and Path(checkpoint_dir) / f"run-{index}-state.pt"
            saved = _load(running) if running and running.exists() else None  # read once
            epoch = saved["counters"][3] if saved else 0
            if resuming and (epoch or index):  # the first run to train found saved progress
                log(rundir.resuming_line(checkpoint_dir, epoch, range(index, index + 1),
                                         len(pairs)))
            resuming = False
            run, state = train_run(config, data, seed, learning_rate, device,
                                   running if config.checkpoint_every else None, log,
                                   model_factory, saved)
            if done:
                _save(done, {"run": run, "state": state})
                running.unlink(missing_ok=True)
        runs.append(run)
        states[f"seed-{seed}-lr-{learning_rate:g}"] = state
    results = {"framework": "torch", "model": config.model, "device": describe(device),
               "wall_time_s": sum(run["time_s"] for run in runs), "compile_time_s": None,
               "runs": runs}
    return results, states


def describe_own(model_factory: Callable[[], nn.Module], split: Split) -> dict:
    """What a run of a user's torch model records: its class, parameter count and number of
    classes (the logits of two test images), checked to take the split's images."""
    from fmnist_jax.errors import ConfigError

    model = model_factory()
    if not isinstance(model, nn.Module):
        raise ConfigError("model must be a zero-argument callable that returns a fresh "
                          f"torch.nn.Module, got one that returns {type(model).__name__}")
    images = dataset(split.x_test[:2], split.y_test[:2]).tensors[0]
    try:
        with torch.no_grad():
            logits = model.eval()(images)
    except Exception as error:  # the user's module, any failure: say where it came from
        raise ConfigError(f"{type(model).__name__} cannot take a batch of the split's images "
                          f"(NCHW {tuple(images.shape[1:])}): {type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''}") from error
    if logits.ndim != 2:
        raise ConfigError(f"{type(model).__name__} must map a batch of images to logits of shape "
                          f"(batch, classes); a batch of 2 gave {tuple(logits.shape)}")
    return {"module": f"{type(model).__module__}.{type(model).__qualname__}",
            "params": sum(p.numel() for p in model.parameters()), "classes": logits.shape[1]}


def save_checkpoint(run_dir: Path, states: dict) -> None:
    """The tested weights of a finished run directory: checkpoint.pt."""
    _save(Path(run_dir) / "checkpoint.pt", states)


def load_checkpoint(run_dir: Path) -> dict[str, dict]:
    """The state_dicts of a run directory's checkpoint.pt, keyed "seed-<n>-lr-<lr>"."""
    return _load(Path(run_dir) / "checkpoint.pt")


def _save(path: Path, obj) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    rundir.write_atomic(path, buffer.getvalue())


def _load(path: Path):
    return torch.load(path, weights_only=True)


def _cpu_state(model: nn.Module) -> dict:
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def _set_precision(precision: str) -> None:
    """float32 means full-precision matmuls and convolutions (no TF32, which cuDNN allows by
    default); tf32 allows it for both; bf16 trains under autocast (see `train_step`)."""
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
