"""`fmnist crosscheck`: the Flax models and the PyTorch reference agree weight for weight."""

from fmnist_jax import protocol
from fmnist_jax.config import ConfigError
from torch_ref import require_torch

HELP = ("check, on the CPU, that weights converted torch->flax and flax->torch give the same "
        "logits, loss and gradients (float32) and the same parameters after one Adam step "
        "(float64) in both frameworks, within 1e-5; exits 1 if any check fails")


def add_arguments(parser) -> None:
    parser.add_argument("--model", nargs="+", choices=sorted(protocol.ARCHITECTURES),
                        default=list(protocol.ARCHITECTURES), help="models to check (default all)")
    parser.add_argument("--batch", type=int, default=8,
                        help="how many real training images to check on (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST files "
                                           "(default $FMNIST_DATA_DIR, else the user cache)")


def run(args) -> int:
    if args.batch <= 0:
        raise ConfigError(f"--batch must be positive, got {args.batch}")
    require_torch()
    from fmnist_jax.crosscheck import crosscheck, format_table
    from fmnist_jax.data import load_raw, study_split

    split = study_split(load_raw(args.data_dir))
    images, labels = split.x_train[:args.batch], split.y_train[:args.batch]
    checks = [check for model in args.model
              for check in crosscheck(model, images, labels, args.seed)]
    print(format_table(checks))
    failed = sum(not check.ok for check in checks)
    print(f"{len(checks) - failed} of {len(checks)} checks pass")
    return 1 if failed else 0
