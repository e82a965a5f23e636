"""The sklearn sweep on a Dask cluster (`fmnist sweep --dask ADDRESS`): a `LocalCluster` of two
single-thread worker processes on loopback stands for an existing cluster."""

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from fmnist_jax.cli.main import main
from fmnist_jax.data.split import sklearn_view, synthetic_raw
from fmnist_jax.mlp import dask_cluster, sweep

distributed = pytest.importorskip("distributed")  # CI installs it (the dev extra)

CONFIGS = "base,lr-0.1,solver-adam"
HOW_RUN = ("fit_time_s", "fit_cpu_s", "blas_threads")  # how a fit ran, not what it found


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as local:
        yield local


@pytest.fixture
def synthetic_data(monkeypatch):
    """`fmnist sweep` fits synthetic images instead of reading Fashion-MNIST."""
    monkeypatch.setattr(sweep, "load_data",
                        lambda data_dir, subset: sklearn_view(synthetic_raw(subset, 100)))


def sweep_args(tmp_path: Path, *extra: str) -> list[str]:
    """`fmnist sweep` of CONFIGS on 300 synthetic images, 2 iterations each, into tmp_path/out."""
    return ["sweep", "--configs", CONFIGS, "--max-iter", "2", "--train-subset", "300",
            "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"), *extra]


def findings(rows: list[dict]) -> list[dict]:
    """What the rows found (all but how their fits ran), by configuration."""
    return sorted(({key: value for key, value in row.items() if key not in HOW_RUN}
                   for row in rows), key=lambda row: row["name"])


@pytest.fixture(scope="module")
def local_rows() -> list[dict]:
    """The same fits here, each on one BLAS thread as on a worker."""
    data = sklearn_view(synthetic_raw(300, 100))
    return [sweep.fit_config(config, *data, max_iter=2) for config in sweep.select(CONFIGS)]


def test_a_sweep_on_a_cluster_records_what_the_same_sweep_here_does(cluster, local_rows,
                                                                    synthetic_data, tmp_path,
                                                                    capsys):
    assert main(sweep_args(tmp_path, "--dask", cluster.scheduler_address)) == 0
    rows = sweep.read_results(tmp_path / "out" / sweep.RESULTS_CSV)
    assert findings(rows) == findings(local_rows)
    assert {row["blas_threads"] for row in rows} == {"1"}
    out = capsys.readouterr().out
    assert f"on dask {cluster.scheduler_address}, 2 worker(s)" in out.splitlines()[0]
    assert f"device Dask cluster at {cluster.scheduler_address}" in (
        tmp_path / "out" / "summary.md").read_text()


def test_a_rerun_on_a_cluster_fits_only_what_is_missing(cluster, local_rows, synthetic_data,
                                                        tmp_path, capsys):
    first, *rest = CONFIGS.split(",")
    assert main([*sweep_args(tmp_path), "--configs", first]) == 0
    capsys.readouterr()
    assert main(sweep_args(tmp_path, "--dask", cluster.scheduler_address)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"sweep (sklearn): {len(rest)} fit(s) to run, 1 already in")
    assert main(sweep_args(tmp_path, "--dask", cluster.scheduler_address)) == 0
    assert capsys.readouterr().out.startswith("sweep (sklearn): 0 fit(s) to run, 3 already in")
    rows = sweep.read_results(tmp_path / "out" / sweep.RESULTS_CSV)
    assert findings(rows) == findings(local_rows)


def test_a_worker_lost_mid_fit_has_its_fit_recomputed_and_recorded_once(cluster, local_rows,
                                                                        tmp_path, monkeypatch):
    started = tmp_path / "base-started"
    fit = sweep.fit_config

    def kills_its_worker_the_first_time(config, *args, **kwargs):
        if config.name == "base" and not started.exists():
            started.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies inside the fit
        return fit(config, *args, **kwargs)

    monkeypatch.setattr(sweep, "fit_config", kills_its_worker_the_first_time)
    lines = []
    rows = sweep.run_sweep(sweep.select(CONFIGS), sklearn_view(synthetic_raw(300, 100)),
                           tmp_path / "out", max_iter=2, log=lines.append,
                           dask_address=cluster.scheduler_address)
    assert int(started.read_text()) != os.getpid()  # the fit ran, and died, in a worker
    assert findings(rows) == findings(local_rows)
    assert findings(sweep.read_results(tmp_path / "out" / sweep.RESULTS_CSV)) == findings(
        local_rows)
    assert lines[-1].startswith("[done 3/3")


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_and_exit_2(synthetic_data, tmp_path, monkeypatch,
                                                         capsys):
    monkeypatch.setattr(dask_cluster, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{unused_port()}"
    assert main(sweep_args(tmp_path, "--dask", address)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"fmnist sweep: error: cannot reach a Dask scheduler at '{address}'")
    assert "dask scheduler" in line
    assert not (tmp_path / "out").exists()


def test_the_jax_engine_is_not_sent_to_a_cluster(tmp_path):
    with pytest.raises(sweep.ConfigError, match="--dask runs the sklearn engine"):
        sweep.run_sweep(sweep.select("base"), sklearn_view(synthetic_raw(30, 10)), tmp_path,
                        engine="jax", dask_address="tcp://127.0.0.1:8786")


def test_workers_of_several_threads_are_refused_with_what_to_start_instead(tmp_path):
    """Two fits in threads of one process would record each other's convergence warnings."""
    with (distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                   protocol="tcp", host="127.0.0.1",
                                   dashboard_address=":0") as threaded,
          pytest.raises(sweep.ConfigError, match="--nthreads 1")):
        sweep.run_sweep(sweep.select("base"), sklearn_view(synthetic_raw(30, 10)), tmp_path,
                        dask_address=threaded.scheduler_address)


def test_without_distributed_the_error_names_the_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    with pytest.raises(sweep.ConfigError, match=r"pip install 'fmnist-jax\[dask\]'"):
        sweep.run_sweep(sweep.select("base"), sklearn_view(synthetic_raw(30, 10)), tmp_path,
                        dask_address="tcp://127.0.0.1:8786")
