"""`fmnist evaluate RUN_DIR`: reload a JAX run's checkpoint and test it again."""

from pathlib import Path

HELP = "reload a JAX run directory's checkpoint and re-test it against its results.json"
TOLERANCE = 1e-4


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", type=Path, help="a directory written by `fmnist train`")
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST files")


def run(args) -> int:
    import jax

    from fmnist_jax.checkpoint import load_params
    from fmnist_jax.config import ConfigError, TrainConfig
    from fmnist_jax.data import load_source, study_split
    from fmnist_jax.rundir import read_json
    from fmnist_jax.train import eval_set, make_evaluate

    for name in ("config.json", "results.json", "checkpoint.msgpack"):
        if not (args.run_dir / name).is_file():
            raise ConfigError(f"{args.run_dir / name}: missing; is {args.run_dir} a finished "
                              "`fmnist train` run directory?")
    config = TrainConfig.from_json(read_json(args.run_dir / "config.json"))
    results = read_json(args.run_dir / "results.json")
    split = study_split(load_source(config.source, args.data_dir))
    test = eval_set(split.x_test, split.y_test, config.eval_batch_size)
    evaluate = jax.jit(jax.vmap(make_evaluate(config), in_axes=(0, None)))
    metrics = jax.device_get(evaluate(load_params(args.run_dir), test))
    print("  seed        lr  test acc (now)  test acc (results.json)  test loss (now)")
    worst = 0.0
    for i, run in enumerate(results["runs"]):
        accuracy = float(metrics.accuracy[i])
        worst = max(worst, abs(accuracy - run["test_accuracy"]))
        print(f"{run['seed']:6d} {run['learning_rate']:9.2g} {accuracy:15.4f} "
              f"{run['test_accuracy']:24.4f} {float(metrics.loss[i]):16.4f}")
    if worst > TOLERANCE:
        print(f"mismatch: accuracies differ from results.json by up to {worst:.6f}")
        return 1
    return 0
