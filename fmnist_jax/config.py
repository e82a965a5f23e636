"""Training configuration: one frozen dataclass shared by `fmnist train` and the PyTorch
reference (no JAX import)."""

from dataclasses import asdict, dataclass, fields

from fmnist_jax import protocol
from fmnist_jax.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    model: str = "simple"
    max_epochs: int = protocol.MAX_EPOCHS
    patience: int = protocol.PATIENCE
    batch_size: int = protocol.BATCH_SIZE
    learning_rates: tuple[float, ...] = (protocol.LEARNING_RATE,)
    seed: int = 0
    seeds: int = 1
    seed_chunk: int | None = None
    restore_best: bool = False
    torch_init: bool = True
    eval_batch_size: int = 1000
    precision: str = "float32"
    conv: str = "auto"
    eval_loss: str = protocol.EVAL_LOSSES[0]
    source: str = "raw"
    train_subset: int | None = None
    checkpoint_every: int = 10
    progress: bool = True

    def validate(self, n_train: int | None = None, own_model: bool = False) -> "TrainConfig":
        """Raises ConfigError with a one-line message for a setting that cannot run. With
        `own_model`, `model` is only the run's label."""
        if not own_model and self.model not in protocol.MODEL_NAMES:
            raise ConfigError(f"unknown model {self.model!r}: choose one of "
                              f"{', '.join(protocol.MODEL_NAMES)}")
        for name in ("max_epochs", "patience", "batch_size", "seeds", "eval_batch_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        for name in ("seed_chunk", "train_subset"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.checkpoint_every < 0:
            raise ConfigError(f"--checkpoint-every must be 0 (never) or positive, got {self.checkpoint_every}")
        if not self.learning_rates or any(not lr > 0 for lr in self.learning_rates):
            raise ConfigError(f"--lr must be positive numbers, got {self.learning_rates}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}")
        if self.eval_loss not in protocol.EVAL_LOSSES:
            raise ConfigError(f"--eval-loss must be one of {', '.join(protocol.EVAL_LOSSES)}")
        if self.conv not in CONV_IMPLS:
            raise ConfigError(f"--conv must be one of {', '.join(CONV_IMPLS)}")
        if n_train is not None and self.batch_size > n_train:
            raise ConfigError(f"--batch-size {self.batch_size} exceeds the {n_train} training images")
        return self

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in obj.items() if k in names}
        values["learning_rates"] = tuple(values.get("learning_rates", cls.learning_rates))
        values.setdefault("eval_loss", "sample-mean")  # runs from before the setting existed
        return cls(**values)


PRECISIONS = ("float32", "tf32", "bf16")
CONV_IMPLS = ("auto", "patches", "lax")  # see fmnist_jax.nn.layers.conv_impl
