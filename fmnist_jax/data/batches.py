"""An epoch's sample order as equal mini-batches, for a `lax.scan` over them (numpy-only: pass
`xp=jax.numpy` when tracing, as `protocol.early_stopping_update` takes it)."""

import numpy as np


def padded_batches(order, batch_size: int, dtype=np.float32, xp=np):
    """`order` (n sample indices) cut into ceil(n / batch_size) batches of `batch_size`, the
    last padded with index 0: (indices, mask), each (batches, batch_size), the mask 1 for a
    sample and 0 for padding. Every batch has one shape, so one compiled step runs them all,
    and the short last batch is kept (as PyTorch's DataLoader and sklearn keep it)."""
    n = order.shape[0]
    batches = -(-n // batch_size)
    indices = xp.pad(order, (0, batches * batch_size - n))
    mask = (xp.arange(batches * batch_size) < n).astype(dtype)
    return indices.reshape(batches, batch_size), mask.reshape(batches, batch_size)
