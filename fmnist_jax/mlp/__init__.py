"""scikit-learn's MLPClassifier: its algorithm in JAX (`fit`), the estimator (`estimator`), the
check against sklearn (`check`), the study's sweep (`sweep`) and its fits on a Dask cluster
(`dask_cluster`)."""
