"""Fashion-MNIST: the IDX files (`idx`), the study's split (`split`), the sources (`sources`,
`tfds`), an epoch's mini-batches (`batches`). numpy-only, so the PyTorch reference shares it
without JAX."""
