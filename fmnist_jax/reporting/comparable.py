"""Whether results may stand beside the study's published figures: the one rule every output
(run summary, comparison, sweep summary, study report) applies, and the sentence it shows.

A training run follows the study's protocol when it trained on all 50000 training images with
the study's patience, epoch cap, batch size, learning rate, loss definition and last-epoch
weights; a sweep when it fitted all 60000 training images with each configuration's max_iter
and sklearn's tol. A setting not recorded counts as not followed: nothing unknown is set beside
the study.
"""

from typing import NamedTuple

from fmnist_jax import protocol
from fmnist_jax.data.split import TRAIN_SIZE, VALIDATION_SIZE
from fmnist_jax.mlp.sweep import BASE
from fmnist_jax.reporting.published import PUBLISHED

# setting: (the study's value, the setting in words)
RUN_SETTINGS = {
    "n_train": (TRAIN_SIZE, "{} training images"),
    "max_epochs": (protocol.MAX_EPOCHS, "at most {} epochs"),
    "patience": (protocol.PATIENCE, "patience {}"),
    "batch_size": (protocol.BATCH_SIZE, "batches of {}"),
    "learning_rate": (protocol.LEARNING_RATE, "learning rate {:g}"),
    "eval_loss": ("batch-mean", "{} losses"),
    "restore_best": (False, "restore_best {}"),
    "source": ("raw", "data source {}"),
    "own_model": (None, "your own model {}"),
}
# setting: (the study's value as the sweep's CSV writes it, the setting in words); no
# configuration changes BASE's max_iter, and tol is sklearn's default, which the study's code used
SWEEP_SETTINGS = {
    "n_train": (str(TRAIN_SIZE + VALIDATION_SIZE), "{} training images"),
    "max_iter": (str(BASE["max_iter"]), "max_iter {}"),
    "tol": ("0.0001", "tol {}"),
}
PLOT_CAVEAT = "not set beside the study's published figures: off its protocol"


def protocol_settings(config, n_train: int, own_model: str | None = None) -> dict:
    """The settings of a training run that decide whether it follows the study's protocol
    (its learning rates are its runs'); `own_model` is the label of a user's module (its data
    is then the user's too), which never stands beside the study."""
    settings = {"n_train": n_train, "patience": config.patience, "max_epochs": config.max_epochs,
                "batch_size": config.batch_size, "eval_loss": config.eval_loss,
                "restore_best": config.restore_best, "source": config.source}
    return {**settings, "source": "your own arrays", "own_model": own_model} if own_model \
        else settings


def run_deviations(settings: dict, learning_rate: float) -> list[str]:
    """How a training run's settings differ from the study's protocol, in words (empty: they
    don't)."""
    return _deviations({**settings, "learning_rate": learning_rate}, RUN_SETTINGS)


def sweep_deviations(rows: list[dict]) -> list[str]:
    """How a sweep's rows differ from the study's protocol, in words (empty: they don't)."""
    found = [d for row in rows for d in _deviations(row, SWEEP_SETTINGS)]
    return list(dict.fromkeys(found))


def _deviations(ours: dict, settings: dict) -> list[str]:
    return [f"{name} not recorded" if name not in ours
            else words.format(ours[name]) + ("" if study is None else f" (the study: {study})")
            for name, (study, words) in settings.items() if ours.get(name) != study
            and not (study is None and name not in ours)]


def describe_run(settings: dict, learning_rate: float) -> str:
    """A training run's protocol settings in words, the study's order."""
    ours = {**settings, "learning_rate": learning_rate}
    return ", ".join(words.format(ours[name]) for name, (_, words) in RUN_SETTINGS.items()
                     if ours.get(name) is not None)


def not_beside(subject: str, deviations: list[str]) -> str:
    """The plain sentence an output shows where `subject` did not follow the study's protocol."""
    return (f"Not set beside the study's published figures: {subject} did not follow the "
            f"study's protocol ({'; '.join(deviations)}).")


class Side(NamedTuple):
    """One side of a verdict: its name, seeds, settings in words and deviations."""

    name: str
    seeds: int
    settings: str
    deviations: list[str]


def off_protocol(sides: list[Side]) -> list[tuple[str, list[str]]]:
    """(names, deviations) of the sides off the study's protocol, those alike together."""
    groups = {}
    for side in sides:
        if side.deviations:
            groups.setdefault(tuple(side.deviations), []).append(side.name)
    return [(" and ".join(names), list(deviations)) for deviations, names in groups.items()]


def compared(a: Side, b: Side) -> str:
    """What a verdict between two sides compares: their seeds and settings."""
    seeds = f"{a.name} ({a.seeds} seeds) and {b.name} ({b.seeds} seeds)"
    if a.settings == b.settings:
        return f"{seeds}, both with {a.settings}"
    return f"{seeds}; {a.name} with {a.settings}; {b.name} with {b.settings}"


def verdict_caveat(model: str, a: Side, b: Side) -> str | None:
    """Why a verdict between two sides cannot speak for the study's protocol (None: it can):
    fewer seeds than the study's runs on a side, or a side off its protocol. A user's own
    model has no study to speak for (None)."""
    if model not in PUBLISHED:
        return None
    study_runs = PUBLISHED[model].count
    reasons = [f"{names} did not follow it ({'; '.join(deviations)})"
               for names, deviations in off_protocol([a, b])]
    if min(a.seeds, b.seeds) < study_runs:
        reasons.insert(0, f"{a.seeds} and {b.seeds} seeds, fewer than the study's {study_runs} "
                          "a side")
    return (f"This verdict cannot speak for the study's protocol: {'; '.join(reasons)}."
            if reasons else None)
