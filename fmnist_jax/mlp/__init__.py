"""scikit-learn's MLPClassifier: its algorithm in JAX (`fit`), the estimator (`estimator`), the
check against sklearn (`check`) and the study's sweep (`sweep`)."""
