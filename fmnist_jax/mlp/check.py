"""JAX's MLPClassifier (`fmnist_jax.mlp.estimator`) against scikit-learn's own, fit for fit.

Both fit the same data from the same seed (so the same initial weights and, with sklearn's
default `shuffle=True`, the same sample order every epoch), in float64. For sgd (each learning-rate schedule) and adam the weights after
the fit must agree within `TOLERANCE`, and the number of iterations must be the same, for fits
that stop by each rule: at max_iter, by the training loss (`tol`, `n_iter_no_change`), by the
validation score (`early_stopping`), and with the adaptive schedule dividing its rate. L-BFGS
runs scipy's optimizer on both sides, so it agrees to the optimizer's tolerance
(`LBFGS_TOLERANCE`), not to rounding.
"""

import warnings
from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-10
LBFGS_TOLERANCE = 1e-6
COMMON = {"hidden_layer_sizes": (16,), "random_state": 0}
CASES = {  # name: the settings beyond COMMON
    "sgd constant, max_iter": {"solver": "sgd", "learning_rate_init": 0.01, "max_iter": 15},
    "sgd constant, unshuffled": {"solver": "sgd", "learning_rate_init": 0.01, "max_iter": 15,
                                 "shuffle": False},
    "sgd invscaling, max_iter": {"solver": "sgd", "learning_rate": "invscaling",
                                 "learning_rate_init": 0.05, "max_iter": 15},
    "sgd adaptive, rate divided": {"solver": "sgd", "learning_rate": "adaptive",
                                   "learning_rate_init": 0.05, "tol": 0.05,
                                   "n_iter_no_change": 2, "max_iter": 40},
    "adam, max_iter": {"solver": "adam", "max_iter": 15},
    "adam, training-loss stop": {"solver": "adam", "tol": 0.02, "n_iter_no_change": 2,
                                 "max_iter": 200},
    "sgd tanh, early stopping": {"solver": "sgd", "activation": "tanh", "early_stopping": True,
                                 "learning_rate_init": 0.01, "tol": 0.01, "n_iter_no_change": 2,
                                 "max_iter": 200},
    "adam logistic, early stopping": {"solver": "adam", "activation": "logistic",
                                      "early_stopping": True, "tol": 0.01,
                                      "n_iter_no_change": 2, "max_iter": 200},
    "lbfgs": {"solver": "lbfgs", "max_iter": 30},
}


@dataclass(frozen=True)
class SklearnAgreement:
    """One case fitted by sklearn and by JAX: both iteration counts and the largest weight
    difference."""

    case: str
    n_iter_sklearn: int
    n_iter_jax: int
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.n_iter_sklearn == self.n_iter_jax and self.max_abs_diff <= self.tolerance


def check(case: str, x: np.ndarray, y: np.ndarray) -> SklearnAgreement:
    """Fits one case both ways and compares iterations and every weight."""
    from sklearn.neural_network import MLPClassifier

    from fmnist_jax.mlp.estimator import JaxMLPClassifier

    params = {**COMMON, **CASES[case]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, on purpose
        reference = MLPClassifier(**params).fit(x, y)
    jax_fit = JaxMLPClassifier(**params, dtype="float64").fit(x, y)
    weights = zip([*reference.coefs_, *reference.intercepts_],
                  [*jax_fit.coefs_, *jax_fit.intercepts_])
    diff = max(float(np.abs(a - b).max()) for a, b in weights)
    tolerance = LBFGS_TOLERANCE if params["solver"] == "lbfgs" else TOLERANCE
    return SklearnAgreement(case, reference.n_iter_, jax_fit.n_iter_, diff, tolerance)


def check_all(x: np.ndarray, y: np.ndarray) -> list[SklearnAgreement]:
    return [check(case, x, y) for case in CASES]


def format_table(checks: list[SklearnAgreement]) -> str:
    header = (f"{'case':<32} {'iterations (sklearn / jax)':>27} {'max abs diff':>13} "
              f"{'tolerance':>9}  ok")
    lines = [header, "-" * len(header)]
    for c in checks:
        lines.append(f"{c.case:<32} {f'{c.n_iter_sklearn} / {c.n_iter_jax}':>27} "
                     f"{c.max_abs_diff:>13.3e} {c.tolerance:>9.0e}  {'yes' if c.ok else 'NO'}")
    return "\n".join(lines)
