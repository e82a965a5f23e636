"""scikit-learn's `MLPClassifier` fitting algorithm, step for step, as pure JAX functions.

It follows `sklearn/neural_network/_multilayer_perceptron.py` and `_stochastic_optimizers.py`
(scikit-learn 1.9); `fmnist_jax.mlp.estimator.JaxMLPClassifier` wraps it as an estimator, and its
docstring lists what is reproduced. `make_fit(hyper, shuffles)` is the stochastic solvers' whole
fit as one vmappable function (`while_loop` over epochs, `scan` over batches), visiting the
samples in the order sklearn's RandomState gives (`SklearnShuffles`); `fit_lbfgs` drives
scipy's L-BFGS-B with the jitted loss and gradient.
"""

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fmnist_jax.data.batches import padded_batches

ACTIVATIONS = {"relu": lambda z: jnp.maximum(z, 0), "tanh": jnp.tanh,
               "logistic": jax.nn.sigmoid, "identity": lambda z: z}
# d activation / dz from the activation's output a, as sklearn's inplace derivatives
DERIVATIVES = {"relu": lambda a, delta: jnp.where(a == 0, 0, delta),
               "tanh": lambda a, delta: delta * (1 - a**2),
               "logistic": lambda a, delta: delta * a * (1 - a),
               "identity": lambda a, delta: delta}
SOLVERS = ("sgd", "adam", "lbfgs")
SCHEDULES = ("constant", "invscaling", "adaptive")


class Fit(NamedTuple):
    """One seed's fit: what `MLPClassifier` keeps after `fit`."""

    coefs: list
    intercepts: list
    n_iter: int
    loss: float
    loss_curve: list
    validation_scores: list | None
    converged: bool


def sklearn_initial_weights(layer_units: list[int], activation: str,
                            random_state: np.random.RandomState, dtype) -> list:
    """sklearn's `_init_coef` for every layer, in its order: each layer's coef, then intercept."""
    factor = 2.0 if activation == "logistic" else 6.0
    params = []
    for fan_in, fan_out in itertools.pairwise(layer_units):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coef = random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)
        intercept = random_state.uniform(-bound, bound, fan_out).astype(dtype)
        params.append((coef, intercept))
    return params


def forward(params, x, activation: str) -> list:
    """The activations of every layer, the input first and the softmax output last."""
    activations = [x]
    for i, (coef, intercept) in enumerate(params):
        z = activations[-1] @ coef + intercept
        activations.append(jax.nn.softmax(z, axis=-1) if i == len(params) - 1
                           else ACTIVATIONS[activation](z))
    return activations


def _divide(total, count: int):
    """total / count as sklearn computes it. XLA turns a division by a constant into a
    multiplication by its reciprocal (87 / 100 becomes 0.8700000000000001), which can flip a
    `tol` comparison on a boundary: the barrier hides that the count is a constant."""
    return total / jax.lax.optimization_barrier(jnp.asarray(count, total.dtype))


def backprop(params, x, y, mask, alpha: float, activation: str):
    """sklearn's `_backprop` on a batch whose rows `mask` marks real: (loss, grads)."""
    n = mask.sum()
    activations = forward(params, x, activation)
    prob = activations[-1]
    eps = jnp.finfo(prob.dtype).eps
    log_likelihood = jnp.where(y, jnp.log(jnp.clip(prob, eps, 1 - eps)), 0)
    loss = -(log_likelihood * mask[:, None]).sum() / n
    loss += 0.5 * alpha * sum(jnp.vdot(coef, coef) for coef, _ in params) / n
    delta = (prob - y) * mask[:, None]
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        coef, _ = params[i]
        grads[i] = ((activations[i].T @ delta + alpha * coef) / n, delta.sum(0) / n)
        if i:
            delta = DERIVATIVES[activation](activations[i], delta @ coef.T)
    return loss, grads


class Hyper(NamedTuple):
    """The settings of a stochastic fit that the compiled loop reads as static."""

    activation: str
    solver: str
    alpha: float
    batch_size: int
    learning_rate: str
    learning_rate_init: float
    power_t: float
    max_iter: int
    shuffle: bool
    tol: float
    momentum: float
    nesterov: bool
    early_stopping: bool
    beta_1: float
    beta_2: float
    epsilon: float
    n_iter_no_change: int


class SklearnShuffles:
    """The order in which sklearn's `_fit_stochastic` visits the training samples each epoch:
    it reshuffles the previous epoch's order with the estimator's RandomState
    (`sklearn.utils.shuffle`, which draws `RandomState.shuffle(arange(n))`).

    A pure function of (seed slot, epoch), memoised: numpy draws one shuffle per epoch and
    seed, and a request for an earlier epoch replays the stream. The compiled loop calls it
    through `jax.pure_callback`, once per epoch (about 1 ms for 60000 samples; XLA's sort-based
    `jax.random.permutation` took 25-90 ms here, a fifth of an epoch)."""

    def __init__(self, states: list[np.random.RandomState], n: int):
        self._start = [state.get_state() for state in states]
        self._n = n
        self._last = {}  # slot -> (epoch, RandomState after it, order)

    def order(self, slot: int, epoch: int) -> np.ndarray:
        last = self._last.get(slot)
        if last is None or last[0] > epoch:
            state = np.random.RandomState()
            state.set_state(self._start[slot])
            last = (-1, state, np.arange(self._n))
        done, state, order = last
        while done < epoch:
            indices = np.arange(self._n)
            state.shuffle(indices)
            order, done = order[indices], done + 1
        self._last[slot] = (done, state, order)
        return order

    def __call__(self, slots, epochs) -> np.ndarray:
        orders = [self.order(int(s), int(e)) for s, e in zip(np.ravel(slots), np.ravel(epochs))]
        return np.reshape(np.asarray(orders, np.int32), (*np.shape(slots), self._n))


class State(NamedTuple):
    params: list
    velocity: list  # sgd velocities, or adam's first moments
    second: list  # adam's second moments (unused by sgd)
    adam_t: jax.Array
    learning_rate: jax.Array
    samples_seen: jax.Array
    n_iter: jax.Array
    no_improvement: jax.Array
    best_loss: jax.Array
    best_score: jax.Array
    best_params: list
    loss_curve: jax.Array  # (max_iter,), NaN after the last epoch
    scores: jax.Array
    done: jax.Array


def make_fit(hyper: Hyper, shuffles: SklearnShuffles | None = None):
    """`fit(params, x, y_onehot, train_idx, val_idx, y_val, slot) -> State`, pure and vmappable:
    sklearn's `_fit_stochastic` until it stops or reaches max_iter. With `hyper.shuffle`,
    `shuffles` gives each epoch's order for the seed in `slot`."""

    def update(state: State, grads, lr):
        flat_params, tree = jax.tree_util.tree_flatten(state.params)
        flat_grads = jax.tree_util.tree_leaves(grads)
        flat_v = jax.tree_util.tree_leaves(state.velocity)
        flat_s = jax.tree_util.tree_leaves(state.second)
        if hyper.solver == "sgd":
            velocity = [hyper.momentum * v - lr * g for v, g in zip(flat_v, flat_grads)]
            steps = ([hyper.momentum * v - lr * g for v, g in zip(velocity, flat_grads)]
                     if hyper.nesterov else velocity)
            second, adam_t = flat_s, state.adam_t
        else:
            adam_t = state.adam_t + 1
            velocity = [hyper.beta_1 * m + (1 - hyper.beta_1) * g for m, g in zip(flat_v, flat_grads)]
            second = [hyper.beta_2 * v + (1 - hyper.beta_2) * g**2 for v, g in zip(flat_s, flat_grads)]
            lr_t = (hyper.learning_rate_init * jnp.sqrt(1 - hyper.beta_2**adam_t)
                    / (1 - hyper.beta_1**adam_t))
            steps = [-lr_t * m / (jnp.sqrt(v) + hyper.epsilon) for m, v in zip(velocity, second)]
        unflatten = jax.tree_util.tree_unflatten
        return state._replace(params=unflatten(tree, [p + s for p, s in zip(flat_params, steps)]),
                              velocity=unflatten(tree, velocity), second=unflatten(tree, second),
                              adam_t=adam_t)

    def epoch(state: State, x, y, train_idx, val_idx, y_val, slot) -> State:
        n = train_idx.shape[0]
        order = train_idx
        if hyper.shuffle:
            positions = jax.pure_callback(shuffles, jax.ShapeDtypeStruct((n,), jnp.int32),
                                          slot, state.n_iter, vmap_method="broadcast_all")
            order = train_idx[positions]

        def batch(carry, indices_mask):
            indices, weights = indices_mask
            loss, grads = backprop(carry.params, x[indices], y[indices], weights, hyper.alpha,
                                   hyper.activation)
            return update(carry, grads, carry.learning_rate), loss * weights.sum()

        state, losses = jax.lax.scan(batch, state,
                                     padded_batches(order, hyper.batch_size, x.dtype, xp=jnp))
        loss = _divide(losses.sum(), n)
        n_iter = state.n_iter + 1
        samples_seen = state.samples_seen + n
        loss_curve = state.loss_curve.at[state.n_iter].set(loss)
        scores, best_params = state.scores, state.best_params
        if hyper.early_stopping:
            prob = forward(state.params, x[val_idx], hyper.activation)[-1]
            score = _divide((jnp.argmax(prob, -1) == y_val).astype(loss.dtype).sum(), len(y_val))
            scores = scores.at[state.n_iter].set(score)
            worse = score < state.best_score + hyper.tol
            improved = score > state.best_score
            best_score = jnp.where(improved, score, state.best_score)
            best_params = jax.tree_util.tree_map(lambda new, old: jnp.where(improved, new, old),
                                                 state.params, best_params)
            best_loss = state.best_loss
        else:
            worse = loss > state.best_loss - hyper.tol
            best_loss = jnp.minimum(loss, state.best_loss)
            best_score = state.best_score
        no_improvement = jnp.where(worse, state.no_improvement + 1, 0)
        lr = state.learning_rate
        if hyper.solver == "sgd" and hyper.learning_rate == "invscaling":
            lr = hyper.learning_rate_init / (samples_seen + 1) ** hyper.power_t
        triggered = no_improvement > hyper.n_iter_no_change
        if hyper.solver == "sgd" and hyper.learning_rate == "adaptive":
            stop = triggered & (lr <= 1e-6)
            reduce = triggered & ~stop
            lr = jnp.where(reduce, lr / 5.0, lr)
            no_improvement = jnp.where(reduce, 0, no_improvement)
        else:
            stop = triggered
        return state._replace(learning_rate=lr, samples_seen=samples_seen, n_iter=n_iter,
                              no_improvement=no_improvement, best_loss=best_loss,
                              best_score=best_score, best_params=best_params,
                              loss_curve=loss_curve, scores=scores,
                              done=stop | (n_iter >= hyper.max_iter))

    def fit(params, x, y, train_idx, val_idx, y_val, slot) -> State:
        dtype = x.dtype
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        nan = jnp.full((hyper.max_iter,), jnp.nan, dtype)
        state = State(params, zeros, zeros, jnp.int32(0), jnp.asarray(hyper.learning_rate_init, dtype),
                      jnp.int32(0), jnp.int32(0), jnp.int32(0), jnp.asarray(jnp.inf, dtype),
                      jnp.asarray(-jnp.inf, dtype), params, nan, nan, jnp.bool_(False))
        return jax.lax.while_loop(lambda s: ~s.done,
                                  lambda s: epoch(s, x, y, train_idx, val_idx, y_val, slot),
                                  state)

    return fit


def fit_lbfgs(params, x, onehot, alpha: float, activation: str, max_iter: int, max_fun: int,
              tol: float) -> Fit:
    """sklearn's `_fit_lbfgs`: scipy's L-BFGS-B on the packed parameters, with the loss and
    gradient of `backprop` on the whole set, jitted."""
    import scipy.optimize

    shapes = [(c.shape, b.shape) for c, b in params]
    sizes = [int(np.prod(s)) for pair in shapes for s in pair]
    mask = np.ones(len(x), x.dtype)

    def unpack(packed):
        parts = jnp.split(packed, np.cumsum(sizes)[:-1])
        return [(parts[2 * i].reshape(c), parts[2 * i + 1].reshape(b))
                for i, (c, b) in enumerate(shapes)]

    with jax.enable_x64(x.dtype == np.float64):
        xs, ys = jnp.asarray(x), jnp.asarray(onehot, x.dtype)

        @jax.jit
        def value_and_grad(packed):
            loss, grads = backprop(unpack(packed), xs, ys, mask, alpha, activation)
            return loss, jnp.concatenate([g.ravel() for pair in grads for g in pair])

        def objective(packed):
            loss, grad = value_and_grad(jnp.asarray(packed, x.dtype))
            return float(loss), np.asarray(grad, np.float64)

        start = np.concatenate([a.ravel() for pair in params for a in pair])
        result = scipy.optimize.minimize(
            objective, start, method="L-BFGS-B", jac=True,
            options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})
        layers = [(np.asarray(c, x.dtype), np.asarray(b, x.dtype))
                  for c, b in unpack(jnp.asarray(result.x))]
    n_iter = int(result.nit)
    return Fit([c for c, _ in layers], [b for _, b in layers], n_iter, float(result.fun),
               [], None, bool(result.success))

