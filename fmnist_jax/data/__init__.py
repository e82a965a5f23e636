"""Fashion-MNIST: the IDX files (`idx`), the study's split (`split`), the sources (`sources`,
`tfds`). numpy-only, so the PyTorch reference shares it without JAX."""
