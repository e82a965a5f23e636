"""`fmnist train`: the study's protocol in JAX, K seeds (x learning rates) in one program."""

from pathlib import Path

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
    parser.add_argument("--train-subset", type=int, metavar="N",
                        help="train on the first N of the 50000 training images (quick runs)")
    parser.add_argument("--checkpoint-every", type=int, default=10, metavar="EPOCHS",
                        help="save the whole training state this often, for --resume; "
                             "0 never (default %(default)s)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue an interrupted run (its config.json decides everything)")
    hosts = parser.add_argument_group(
        "several hosts", "run the same command on every host; the runs are sharded over all "
                         "their devices and process 0 writes the run directory")
    hosts.add_argument("--coordinator", metavar="HOST:PORT",
                       help="address of process 0 (jax.distributed.initialize)")
    hosts.add_argument("--num-processes", type=int, help="number of processes in all")
    hosts.add_argument("--process-id", type=int, help="this process's index, 0 to N-1")


def run(args) -> int:
    import shutil

    import jax

    from fmnist_jax.checkpoint import save_params
    from fmnist_jax.data import load_source, study_split
    from fmnist_jax.report import runs_table, write_summary
    from fmnist_jax.rundir import new_run_dir, resume_run_dir, write_json, write_run
    from fmnist_jax.runner import train_runs

    if args.resume:
        out, config = resume_run_dir(args.resume, "jax")
    else:
        config = config_from_args(args, seed_chunk=args.seed_chunk, torch_init=not args.flax_init,
                                  eval_batch_size=args.eval_batch_size,
                                  train_subset=args.train_subset,
                                  checkpoint_every=args.checkpoint_every)
        out = new_run_dir(args.out, "jax", config.model)
    if args.coordinator:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    split = study_split(load_source(config.source, args.data_dir, config.progress))
    if config.train_subset:
        config.validate(n_train=len(split.y_train))
        split = split._replace(x_train=split.x_train[:config.train_subset],
                               y_train=split.y_train[:config.train_subset])
    config.validate(n_train=len(split.y_train))
    checkpoints = out / "checkpoints" if config.checkpoint_every else None
    if jax.process_index() == 0:
        (checkpoints or out).mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", {**config.to_json(), "framework": "jax"})
    outcome = train_runs(config, split, checkpoint_dir=checkpoints,
                         checkpoint_every=config.checkpoint_every)
    if jax.process_index() != 0:
        return 0
    write_run(out, {**config.to_json(), "framework": "jax"}, outcome.results)
    save_params(out, outcome.params)
    if checkpoints:
        shutil.rmtree(checkpoints)
    summary = write_summary(out)
    print(runs_table(outcome.results))
    print()
    print(summary["markdown"])
    print(f"run directory: {out}")
    return 0
