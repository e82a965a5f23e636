"""Command-line options shared by `fmnist train` and `fmnist torch` / `python -m torch_ref`."""

import argparse

from fmnist_jax import protocol
from fmnist_jax.config import PRECISIONS, ConfigError, TrainConfig
from fmnist_jax.data import SOURCES


def learning_rate_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=sorted(protocol.ARCHITECTURES), help="required")
    parser.add_argument("--max-epochs", type=int, default=protocol.MAX_EPOCHS,
                        help="upper bound on epochs (default %(default)s)")
    parser.add_argument("--patience", type=int, default=protocol.PATIENCE,
                        help="stop after this many epochs without a lower validation loss "
                             "(default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=protocol.BATCH_SIZE)
    parser.add_argument("--lr", type=learning_rate_list, default=(protocol.LEARNING_RATE,),
                        help="Adam learning rate, or a comma list to train each (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds: seed, seed+1, ...")
    parser.add_argument("--restore-best", action="store_true",
                        help="test the parameters of the best validation epoch, not the last")
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST files "
                                           "(default $FMNIST_DATA_DIR, else the user cache)")
    parser.add_argument("--source", choices=SOURCES, default="raw",
                        help="raw: the four files in published order, as the study splits them; "
                             "tfds: tensorflow-datasets' copy, in its own shuffled order "
                             "(needs the tfds extra)")
    parser.add_argument("--out", help="run directory to write (default runs/<framework>-<model>-<time>)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress output")


def config_from_args(args: argparse.Namespace, **extra) -> TrainConfig:
    if args.model is None:
        raise ConfigError("--model is required: simple, big or cnn")
    return TrainConfig(model=args.model, max_epochs=args.max_epochs, patience=args.patience,
                       batch_size=args.batch_size, learning_rates=args.lr, seed=args.seed,
                       seeds=args.seeds, restore_best=args.restore_best,
                       precision=args.precision, source=args.source, progress=not args.quiet,
                       **extra).validate()
