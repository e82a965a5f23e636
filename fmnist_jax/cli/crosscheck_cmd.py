"""`fmnist crosscheck`: the Flax models and the PyTorch reference agree weight for weight, and
(`--sklearn`) the JAX MLPClassifier agrees with scikit-learn's fit for fit."""

from fmnist_jax import protocol
from fmnist_jax.cli.options import add_data_options, choice_list
from fmnist_jax.errors import ConfigError
from fmnist_jax.mlp.check import LBFGS_TOLERANCE, TOLERANCE

HELP = ("check, on the CPU, that weights converted torch->flax and flax->torch give the same "
        "logits, loss and gradients (float32) and the same parameters after 5 Adam steps "
        "(float64) in both frameworks, within 1e-5; with --sklearn, that the JAX MLPClassifier "
        "fits as scikit-learn's does; exits 1 if any check fails")


def add_arguments(parser) -> None:
    parser.add_argument("--models", "--model", nargs="+", metavar="MODELS",
                        type=choice_list(protocol.MODEL_NAMES),
                        default=[protocol.MODEL_NAMES],
                        help="comma-separated models to check (spaces separate them too; "
                             f"default all: {','.join(protocol.MODEL_NAMES)})")
    parser.add_argument("--batch", type=int, default=8,
                        help="how many real training images to check on (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--sklearn", action="store_true",
                        help="instead, fit the JAX MLPClassifier and scikit-learn's from the same "
                             "seed on the same images (float64), in sklearn's shuffled sample "
                             "order and in one unshuffled case: sgd with each schedule, adam, "
                             f"lbfgs, each stopping rule; weights within {TOLERANCE:g} (lbfgs "
                             f"{LBFGS_TOLERANCE:g}), same iterations")
    parser.add_argument("--sklearn-images", type=int, default=1000, metavar="N",
                        help="training images for --sklearn: the first N (default %(default)s)")
    add_data_options(parser)


def run(args) -> int:
    if args.batch <= 0 or args.sklearn_images <= 1:
        raise ConfigError("--batch must be positive and --sklearn-images above 1")
    if args.sklearn:
        from fmnist_jax.mlp.check import check_all, format_table
        from fmnist_jax.mlp.sweep import load_data

        x, y, _, _ = load_data(args.data_dir, args.sklearn_images)
        checks = check_all(x, y)
    else:
        from fmnist_jax.errors import require_torch

        require_torch()
        from fmnist_jax.crosscheck import crosscheck, format_table
        from fmnist_jax.data.idx import load_raw
        from fmnist_jax.data.split import study_split

        split = study_split(load_raw(args.data_dir))
        images, labels = split.x_train[:args.batch], split.y_train[:args.batch]
        checks = [check for group in args.models for model in group
                  for check in crosscheck(model, images, labels, args.seed)]
    print(format_table(checks))
    failed = sum(not check.ok for check in checks)
    print(f"{len(checks) - failed} of {len(checks)} checks pass")
    return 1 if failed else 0
