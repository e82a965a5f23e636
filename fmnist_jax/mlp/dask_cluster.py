"""The sweep's sklearn fits on an existing Dask cluster (the `dask` extra): joblib's dask backend
over a `distributed.Client`, connected with a short timeout, its errors worded as one line.

Each fit is one Dask task whose row comes back only when the fit has returned, so a worker lost
mid-fit has its task recomputed by the scheduler and leaves nothing half-done behind. Workers
must run one thread each: a fit tells whether it converged (or was interrupted) by the warnings
it raised, and `warnings.catch_warnings` is process-wide, so two fits in threads of one process
would record each other's warnings.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from fmnist_jax.errors import ConfigError

CONNECT_TIMEOUT_S = 10.0
INSTALL = "pip install 'fmnist-jax[dask]'"


class Cluster(NamedTuple):
    """What the fits run on: its description for logs and provenance, and its workers (one
    thread each)."""

    description: str
    workers: int


def _one_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


@contextmanager
def on_cluster(address: str, scatter=()) -> Iterator[Cluster]:
    """Inside, joblib runs on the Dask cluster whose scheduler is at `address` (tcp://HOST:PORT),
    with the arrays in `scatter` (the data every fit reads) copied to every worker first: joblib
    would otherwise send them to one, and losing it would lose them. The client is closed on the
    way out, releasing whatever tasks are left."""
    timeout_s = CONNECT_TIMEOUT_S
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(f"--dask needs Dask's distributed package: {INSTALL}") from None
    from joblib import parallel_config

    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, ValueError, TimeoutError) as error:
        raise ConfigError(f"cannot reach a Dask scheduler at {address!r} ({_one_line(error)}); "
                          "start one (`dask scheduler`, then `dask worker ADDRESS`) and give its "
                          "address as tcp://HOST:PORT") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except TimeoutError:
            raise ConfigError(f"the Dask scheduler at {address} has no workers after "
                              f"{timeout_s:g} s; start some, `dask worker {address} --nworkers N "
                              "--nthreads 1`") from None
        threads = client.nthreads()
        if max(threads.values()) > 1:
            raise ConfigError(f"the Dask workers at {address} run several threads each (fits "
                              "record their convergence through process-wide warnings): start "
                              f"them with one, `dask worker {address} --nworkers N --nthreads 1`")
        with parallel_config(backend="dask", client=client, scatter=list(scatter)):
            yield Cluster(f"dask {client.scheduler.address}, {len(threads)} worker(s)",
                          len(threads))
