"""MLPClassifier's algorithm in JAX: fit for fit equal to scikit-learn's, and a proper estimator."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_score

from fmnist_jax.data.split import sklearn_view, synthetic_raw
from fmnist_jax.mlp import check as sklearn_check
from fmnist_jax.mlp.estimator import JaxMLPClassifier


@pytest.fixture(scope="module")
def data():
    x_train, y_train, x_test, y_test = sklearn_view(synthetic_raw(500, 200))
    return x_train, y_train, x_test, y_test


@pytest.mark.parametrize("case", sklearn_check.CASES)
def test_each_solver_schedule_and_stopping_rule_fits_as_sklearn_does(data, case):
    result = sklearn_check.check(case, data[0], data[1])
    assert result.n_iter_sklearn == result.n_iter_jax, result
    assert result.max_abs_diff <= result.tolerance, result


def test_the_cases_cover_each_stopping_rule(data):
    """The cases must really stop early where they say so (else they test nothing)."""
    from sklearn.neural_network import MLPClassifier

    for case in ("adam, training-loss stop", "sgd tanh, early stopping",
                 "sgd adaptive, rate divided"):
        params = {**sklearn_check.COMMON, **sklearn_check.CASES[case]}
        fit = MLPClassifier(**params).fit(data[0], data[1])
        assert fit.n_iter_ < params["max_iter"], case
    adaptive = {**sklearn_check.COMMON, **sklearn_check.CASES["sgd adaptive, rate divided"]}
    fit = MLPClassifier(**adaptive).fit(data[0], data[1])
    assert fit._optimizer.learning_rate < adaptive["learning_rate_init"]


def test_clone_and_cross_val_score_accept_it(data):
    estimator = JaxMLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    assert clone(estimator).get_params() == estimator.get_params()
    scores = cross_val_score(estimator, data[0], data[1], cv=2)
    x, y = data[0], data[1]
    by_hand = [np.mean(clone(estimator).fit(x[train], y[train]).predict(x[test]) == y[test])
               for train, test in StratifiedKFold(2).split(x, y)]
    np.testing.assert_array_equal(scores, by_hand)


def test_seeds_fitted_together_equal_seeds_fitted_alone(data):
    estimator = JaxMLPClassifier(hidden_layer_sizes=(8,), solver="sgd", max_iter=4,
                                 learning_rate_init=0.01, dtype="float64")
    together = estimator.fit_seeds(data[0], data[1], [3, 4])
    alone = clone(estimator).set_params(random_state=4).fit(data[0], data[1])
    np.testing.assert_allclose(together[1].coefs_[0], alone.coefs_[0], atol=1e-12)
    assert not np.allclose(together[0].coefs_[0], together[1].coefs_[0])
    assert together[0].random_state == 3 and together[1].n_iter_ == 4


def test_predictions_are_class_labels_and_probabilities_sum_to_one(data):
    fit = JaxMLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(data[0], data[1])
    probabilities = fit.predict_proba(data[2])
    np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-5)
    predicted = fit.predict(data[2])
    assert set(predicted) <= set(range(10))
    assert fit.score(data[2], data[3]) == np.mean(predicted == data[3])


def test_epoch_orders_are_sklearns_stream_and_replay_identically():
    from sklearn.utils import shuffle

    from fmnist_jax.mlp.fit import SklearnShuffles

    shuffles = SklearnShuffles([np.random.RandomState(7)], 50)
    orders = [shuffles.order(0, epoch).copy() for epoch in range(4)]
    state, expected = np.random.RandomState(7), np.arange(50)
    for order in orders:
        expected = shuffle(expected, random_state=state)
        np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(shuffles.order(0, 1), orders[1])  # an earlier epoch again
    np.testing.assert_array_equal(shuffles(np.array([0, 0]), np.array([3, 2])), orders[3:1:-1])
