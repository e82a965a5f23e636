"""The study's published PyTorch figures (SEED.md section 2), as data to compare against.

SEED.md calls the CNN "image"; here it is "cnn". Six runs per model on one unnamed GPU.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedRow:
    count: int
    accuracy_mean: float
    accuracy_std: float
    loss_mean: float
    loss_std: float
    run_time_mean_s: float
    run_time_std_s: float


PUBLISHED = {
    "simple": PublishedRow(6, 0.8917, 0.0023, 0.5799, 0.0160, 24.97, 1.44),
    "big": PublishedRow(6, 0.8911, 0.0032, 0.5466, 0.0363, 40.96, 2.21),
    "cnn": PublishedRow(6, 0.9187, 0.0017, 0.5779, 0.0317, 681.79, 16.18),
}
