"""scikit-learn's `MLPClassifier.fit`, step for step, in JAX: many seeds in one compiled program.

It follows `sklearn/neural_network/_multilayer_perceptron.py` and `_stochastic_optimizers.py`
(scikit-learn 1.9): Glorot-uniform initialisation drawn from the seed's numpy RandomState in
sklearn's order (so seed s starts from the weights `MLPClassifier(random_state=s)` starts
from), the `validation_fraction` split drawn next from the same RandomState (not stratified:
sklearn stratifies only single-output targets, and its multiclass target is one-hot),
`batch_size=min(200, n)` (the last batch smaller), sklearn's hand-written backpropagation (the
softmax output's delta `p - y`, L2 term `alpha` over the batch size, the loss clipped at eps),
SGD with momentum and Nesterov, sklearn's Adam (bias correction in the learning rate, eps
outside the square root), the learning-rate schedules constant / invscaling / adaptive, `tol`
with `n_iter_no_change` on the training loss or the validation score, `max_iter`, the
activations relu / tanh / logistic / identity. L-BFGS drives scipy's L-BFGS-B with a jitted
JAX loss and gradient, as sklearn drives it with numpy.

The epochs run on the device (`while_loop` over epochs, `scan` over batches), vmapped over
seeds. Each epoch's sample order is sklearn's too: the seed's RandomState reshuffles it on the
host (`mlp_fit.SklearnShuffles`, one callback per epoch), so a fit in float64 equals
`MLPClassifier(random_state=seed)`'s to rounding, shuffled or not (`fmnist crosscheck
--sklearn`); float32 (the default) follows it to float32 rounding.
"""

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer

from fmnist_jax.mlp.fit import (
    ACTIVATIONS,
    SCHEDULES,
    SOLVERS,
    Fit,
    Hyper,
    SklearnShuffles,
    fit_lbfgs,
    make_fit,
    sklearn_initial_weights,
)


class JaxMLPClassifier(ClassifierMixin, BaseEstimator):
    """`sklearn.neural_network.MLPClassifier` (classification, softmax output), computed in JAX.

    The constructor takes MLPClassifier's arguments (with its defaults) plus `dtype`
    ("float32", fast, or "float64", sklearn's precision on float64 data). `fit` trains one
    seed (`random_state`); `fit_seeds` trains many in one compiled program and returns one
    fitted estimator per seed. `sklearn.base.clone` and `cross_val_score` accept it.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    def fit(self, X, y):
        seed = self.random_state if self.random_state is not None else \
            np.random.randint(np.iinfo(np.int32).max)
        fitted = self.fit_seeds(X, y, [seed])[0]
        self.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
        return self

    def fit_seeds(self, X, y, seeds) -> list["JaxMLPClassifier"]:
        """One fitted copy of this estimator per seed (as its random_state), trained together:
        vmapped in one program for sgd and adam, one after another for lbfgs."""
        self._check()
        dtype = np.dtype(self.dtype)
        x = np.asarray(X, dtype)
        binarizer = LabelBinarizer().fit(y)
        onehot = binarizer.transform(y).astype(bool)
        if onehot.shape[1] < 3:
            raise ValueError("JaxMLPClassifier handles three or more classes (softmax output)")
        layer_units = [x.shape[1], *self._hidden(), onehot.shape[1]]
        states = [np.random.RandomState(seed) for seed in seeds]
        params = [sklearn_initial_weights(layer_units, self.activation, rs, dtype)
                  for rs in states]
        if self.solver == "lbfgs":
            fits = [fit_lbfgs(p, x, onehot, self.alpha, self.activation, self.max_iter,
                              self.max_fun, self.tol) for p in params]
        else:
            fits = self._fit_stochastic(params, x, onehot, states, seeds)
        return [self._fitted(seed, binarizer, fit) for seed, fit in zip(seeds, fits)]

    def _hidden(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        return list(sizes) if hasattr(sizes, "__iter__") else [sizes]

    def _check(self) -> None:
        for name, allowed in (("solver", SOLVERS), ("learning_rate", SCHEDULES),
                              ("activation", tuple(ACTIVATIONS))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: one of {allowed}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype={self.dtype!r}: float32 or float64")

    def _fit_stochastic(self, params, x, onehot, states, seeds) -> list[Fit]:
        n = len(x)
        if self.early_stopping:
            # sklearn stratifies only single-output targets; its multiclass y is one-hot
            # (n_outputs_ = classes), so its split is not stratified, and neither is this
            splits = [train_test_split(np.arange(n), random_state=rs,
                                       test_size=self.validation_fraction) for rs in states]
            train_idx = np.stack([train for train, _ in splits])
            val_idx = np.stack([val for _, val in splits])
        else:
            train_idx = np.tile(np.arange(n), (len(seeds), 1))
            val_idx = np.zeros((len(seeds), 1), int)
        batch = min(200, train_idx.shape[1]) if self.batch_size == "auto" else \
            int(np.clip(self.batch_size, 1, train_idx.shape[1]))
        hyper = Hyper(self.activation, self.solver, float(self.alpha), batch,
                      self.learning_rate, float(self.learning_rate_init), float(self.power_t),
                      int(self.max_iter), bool(self.shuffle), float(self.tol),
                      float(self.momentum), bool(self.nesterovs_momentum),
                      bool(self.early_stopping), float(self.beta_1), float(self.beta_2),
                      float(self.epsilon), int(self.n_iter_no_change))
        labels = onehot.argmax(1)
        stacked = jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *params)
        shuffles = SklearnShuffles(states, train_idx.shape[1])  # the states after the split
        with jax.enable_x64(x.dtype == np.float64):
            fit = jax.jit(jax.vmap(make_fit(hyper, shuffles), in_axes=(0, None, None, 0, 0, 0, 0)))
            state = jax.device_get(fit(stacked, jnp.asarray(x), jnp.asarray(onehot, x.dtype),
                                       jnp.asarray(train_idx), jnp.asarray(val_idx),
                                       jnp.asarray(labels[val_idx]),
                                       jnp.arange(len(seeds), dtype=jnp.int32)))
        fits = []
        for i in range(len(seeds)):
            n_iter = int(state.n_iter[i])
            final = state.best_params if self.early_stopping else state.params
            layers = [(np.asarray(c[i]), np.asarray(b[i])) for c, b in final]
            curve = [float(v) for v in state.loss_curve[i, :n_iter]]
            scores = ([float(v) for v in state.scores[i, :n_iter]] if self.early_stopping
                      else None)
            stopped = bool(state.no_improvement[i] > self.n_iter_no_change) or n_iter < self.max_iter
            fits.append(Fit([c for c, _ in layers], [b for _, b in layers], n_iter, curve[-1],
                            curve, scores, stopped))
        return fits

    def _fitted(self, seed, binarizer, fit: Fit) -> "JaxMLPClassifier":
        estimator = type(self)(**{**self.get_params(), "random_state": seed})
        estimator.classes_ = binarizer.classes_
        estimator._label_binarizer = binarizer
        estimator.coefs_, estimator.intercepts_ = fit.coefs, fit.intercepts
        estimator.n_iter_, estimator.loss_ = fit.n_iter, fit.loss
        estimator.loss_curve_ = fit.loss_curve
        estimator.validation_scores_ = fit.validation_scores
        estimator.best_validation_score_ = (max(fit.validation_scores)
                                            if fit.validation_scores else None)
        estimator.converged_ = fit.converged
        estimator.n_layers_ = len(fit.coefs) + 1
        estimator.n_features_in_ = fit.coefs[0].shape[0]
        return estimator

    def predict_proba(self, X) -> np.ndarray:
        x = np.asarray(X, self.coefs_[0].dtype)
        activation = ACTIVATIONS[self.activation]
        with jax.enable_x64(x.dtype == np.float64):
            out = jnp.asarray(x)
            for i, (coef, intercept) in enumerate(zip(self.coefs_, self.intercepts_)):
                out = out @ coef + intercept
                out = jax.nn.softmax(out, -1) if i == len(self.coefs_) - 1 else activation(out)
            return np.asarray(out)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]
