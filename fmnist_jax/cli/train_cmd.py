"""`fmnist train`: the study's protocol in JAX, K seeds (x learning rates) in one program."""

from fmnist_jax.cli.options import add_training_options, config_from_args

HELP = "train a model in JAX (many seeds in one compiled program) and write a run directory"


def add_arguments(parser) -> None:
    add_training_options(parser)
    parser.add_argument("--seed-chunk", type=int,
                        help="train at most this many runs at once (bounds device memory)")
    parser.add_argument("--eval-batch-size", type=int, default=1000,
                        help="images per evaluation chunk (default %(default)s)")
    parser.add_argument("--flax-init", action="store_true",
                        help="Flax's default initialisation instead of PyTorch's")


def run(args) -> int:
    from fmnist_jax.checkpoint import save_params
    from fmnist_jax.data import load_raw, study_split
    from fmnist_jax.report import runs_table, write_summary
    from fmnist_jax.rundir import new_run_dir, write_run
    from fmnist_jax.runner import train_runs

    config = config_from_args(args, seed_chunk=args.seed_chunk, torch_init=not args.flax_init,
                              eval_batch_size=args.eval_batch_size)
    out = new_run_dir(args.out, "jax", config.model)
    split = study_split(load_raw(args.data_dir))
    config.validate(n_train=len(split.y_train))
    outcome = train_runs(config, split)
    write_run(out, {**config.to_json(), "framework": "jax"}, outcome.results)
    save_params(out, outcome.params)
    summary = write_summary(out)
    print(runs_table(outcome.results))
    print()
    print(summary["markdown"])
    print(f"run directory: {out}")
    return 0
