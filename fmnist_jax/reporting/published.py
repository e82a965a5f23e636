"""The study this project reproduces, and its published PyTorch figures, as data.

The study calls the CNN "image"; here it is "cnn". Six runs per model on one unnamed GPU.
Its scikit-learn sweep's figures (each configuration's accuracy and fit time, the large model's
confusion matrix) are defined with the sweep's grid, in `fmnist_jax.mlp.sweep`: the sweep orders
its fits by the published times, and mlp imports nothing from reporting.
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

    def cells(self) -> dict[str, str]:
        """The row's figures formatted for a Markdown table, its 95% interval included."""
        from fmnist_jax.reporting.formatting import interval
        from fmnist_jax.reporting.stats import published_interval

        low, high = published_interval(self.accuracy_mean, self.accuracy_std, self.count)
        return {"count": str(self.count), "accuracy": f"{self.accuracy_mean:.4f}",
                "accuracy_std": f"{self.accuracy_std:.4f}", "interval": interval(low, high),
                "loss": f"{self.loss_mean:.4f}", "loss_std": f"{self.loss_std:.4f}",
                "time": f"{self.run_time_mean_s:.2f}", "time_std": f"{self.run_time_std_s:.2f}"}


PUBLISHED = {
    "simple": PublishedRow(6, 0.8917, 0.0023, 0.5799, 0.0160, 24.97, 1.44),
    "big": PublishedRow(6, 0.8911, 0.0032, 0.5466, 0.0363, 40.96, 2.21),
    "cnn": PublishedRow(6, 0.9187, 0.0017, 0.5779, 0.0317, 681.79, 16.18),
}

STUDY_DESCRIPTION = """\
A course project (report dated 2025-11-04) classified Fashion-MNIST with an sklearn
`MLPClassifier` sweep and three PyTorch models, each trained six times. The PyTorch part trains
on the first 50000 training images, validates on the last 10000 and tests on the 10000 test
images, with pixels scaled to [0, 1]; mini-batches of 128, reshuffled every epoch (the last
batch of 80 is kept); cross-entropy loss; `torch.optim.Adam` at its defaults; PyTorch's default
initialisation. After each epoch it computes the validation loss and stops once that has not
been strictly lower than its best for 30 epochs (at most 1000 epochs); the model tested is the
one at the stop, not the best one, which is why the published test losses are high. The models:
*simple*, two hidden ReLU layers of 784; *big*, five; *cnn*, a 3x3 conv of 32 channels and one
of 1024 (each followed by ReLU and 2x2 max-pooling) and two dense ReLU layers of 784. Where the
study's code differs from its prose, this project follows the code: no improvement threshold in
early stopping (the prose says 0.0001), and the validation and test losses are the mean of
per-batch mean losses over batches of 256 in file order (the last batch of 10000 images holds
16), not per-image means. The published mean, standard deviation and run time of six runs per
model came from one unnamed GPU; no seed was set."""
