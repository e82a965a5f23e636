"""Command-line options shared by `fmnist train` and `fmnist torch` / `python -m torch_ref`,
the comma lists every multi-value option takes, and the one-line error parser every command
uses."""

import argparse
import sys

from fmnist_jax import protocol
from fmnist_jax.config import PRECISIONS, TrainConfig
from fmnist_jax.data.sources import SOURCES
from fmnist_jax.errors import ConfigError, DataError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, naming the command and its --help."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message}; see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)


def comma_list(text: str) -> tuple[str, ...]:
    """A comma-separated option value (`simple,big,cnn`) as its non-empty items."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def choice_list(choices):
    """An argparse type: a comma list whose every item is one of `choices`."""

    def parse(text: str) -> tuple[str, ...]:
        items = comma_list(text)
        unknown = [item for item in items if item not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(
                f"invalid choice {', '.join(map(repr, unknown)) or repr(text)} "
                f"(choose from {','.join(choices)}, separated by commas)")
        return items

    return parse


def learning_rate_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in comma_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR",
                        help="directory with the four Fashion-MNIST files (default "
                             "$FMNIST_DATA_DIR, else the user cache, downloaded there)")


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The protocol and run options every training command takes."""
    parser.add_argument("--model", choices=protocol.MODEL_NAMES,
                        help="the study's model to train (required unless --resume)")
    parser.add_argument("--max-epochs", type=int, default=protocol.MAX_EPOCHS, metavar="N",
                        help="upper bound on epochs (default %(default)s)")
    parser.add_argument("--patience", type=int, default=protocol.PATIENCE, metavar="N",
                        help="stop after this many epochs without a lower validation loss "
                             "(default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=protocol.BATCH_SIZE, metavar="N",
                        help="training mini-batch size (default %(default)s)")
    parser.add_argument("--lr", type=learning_rate_list, default=(protocol.LEARNING_RATE,),
                        metavar="X[,Y,...]",
                        help="Adam learning rate, or a comma list to train each (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--seeds", type=int, default=1, metavar="K",
                        help="number of seeds: seed, seed+1, ... (default 1)")
    parser.add_argument("--seed-chunk", type=int, metavar="C",
                        help="JAX: train at most C runs in one program at a time, to bound "
                             "device memory (torch_ref trains one run at a time anyway)")
    parser.add_argument("--eval-loss", choices=protocol.EVAL_LOSSES, default=protocol.EVAL_LOSSES[0],
                        help="validation/test loss: batch-mean, the study's code (mean of "
                             "per-batch means over batches of 256), or sample-mean (default "
                             "%(default)s); the validation loss drives early stopping")
    parser.add_argument("--restore-best", action="store_true",
                        help="test the parameters of the best validation epoch, not the last")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="float32 (full precision), tf32 (GPU tensor cores) or bf16 "
                             "(bf16 compute, float32 parameters and optimizer state); "
                             "default %(default)s")
    parser.add_argument("--train-subset", type=int, metavar="N",
                        help="train on the first N of the 50000 training images (quick runs)")
    parser.add_argument("--eval-batch-size", type=int, default=1000, metavar="N",
                        help="images per evaluation chunk (default %(default)s; does not "
                             "change the loss definition)")
    parser.add_argument("--checkpoint-every", type=int, default=10, metavar="EPOCHS",
                        help="save the whole training state this often, for --resume; "
                             "0 never (default %(default)s)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue an interrupted run (its config.json decides everything)")
    add_data_options(parser)
    parser.add_argument("--source", choices=SOURCES, default="raw",
                        help="raw: the four files in published order, as the study splits them; "
                             "tfds: tensorflow-datasets' copy, in its own shuffled order "
                             "(needs the tfds extra)")
    parser.add_argument("--out", metavar="DIR",
                        help="run directory to write (default runs/<framework>-<model>-<time>)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress output")


def config_from_args(args: argparse.Namespace, **extra) -> TrainConfig:
    if args.model is None:
        raise ConfigError("--model is required: simple, big or cnn")
    return TrainConfig(model=args.model, max_epochs=args.max_epochs, patience=args.patience,
                       batch_size=args.batch_size, learning_rates=args.lr, seed=args.seed,
                       seeds=args.seeds, seed_chunk=args.seed_chunk,
                       restore_best=args.restore_best, eval_loss=args.eval_loss,
                       eval_batch_size=args.eval_batch_size, precision=args.precision,
                       source=args.source, train_subset=args.train_subset,
                       checkpoint_every=args.checkpoint_every, progress=not args.quiet,
                       **extra).validate()


def run_training(framework: str, args: argparse.Namespace, **extra) -> int:
    """What `fmnist train` and `fmnist torch` do after parsing: train (or resume), print."""
    from fmnist_jax import api
    from fmnist_jax.reporting.run_report import runs_table
    from fmnist_jax.reporting.rundir import default_run_dir

    log = print if not args.quiet else (lambda *_: None)
    command = "train" if framework == "jax" else "torch"
    out = args.resume
    try:
        if args.resume:
            run = api.resume(args.resume, args.data_dir, log=log)
        else:
            config = config_from_args(args, **extra)
            out = args.out or default_run_dir(framework, config.model)
            trainer = api.train_jax if framework == "jax" else api.train_torch
            run = trainer(config, out=out, data_dir=args.data_dir, log=log)
    except KeyboardInterrupt:
        if out is None:
            raise
        raise KeyboardInterrupt(f"continue from the last checkpoint with `fmnist {command} "
                                f"--resume {out}`") from None
    if run.run_dir is None or not run.summary:
        return 0
    print(runs_table(run.results))
    print()
    print(run.summary["markdown"])
    print(f"run directory: {run.run_dir}")
    return 0


def run_reporting_errors(prog: str, run, args) -> int:
    """Runs a command; data and configuration errors become one line and an exit code."""
    try:
        return run(args)
    except (DataError, ConfigError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    except KeyboardInterrupt as interrupt:
        hint = str(interrupt) or "nothing was recorded for the work in progress"
        print(f"{prog}: interrupted; {hint}", file=sys.stderr)
        return 130
