"""`fmnist study`: the whole study (models x frameworks, optionally the sweep), resumable,
ending in one report beside the published figures."""

from dataclasses import replace
from pathlib import Path

from fmnist_jax import protocol
from fmnist_jax.cli.options import add_data_options, choice_list, comma_list
from fmnist_jax.config import PRECISIONS
from fmnist_jax.errors import ConfigError

HELP = ("reproduce the study: train every model in JAX and with the PyTorch reference (and "
        "optionally the sklearn sweep) into one directory, resumably, and write report.md "
        "beside the published figures")


def add_arguments(parser) -> None:
    parser.add_argument("--models", type=choice_list(protocol.MODEL_NAMES),
                        metavar="M[,M...]", help="comma-separated models (default "
                                                 "simple,big,cnn; with --quick simple,big)")
    parser.add_argument("--frameworks", type=comma_list, default="jax,torch",
                        metavar="F[,F...]",
                        help="comma-separated frameworks: jax, torch (default %(default)s)")
    parser.add_argument("--seeds", type=int, default=8, metavar="K",
                        help="seeds per cell (default %(default)s)")
    parser.add_argument("--seeds-per-run", type=int, metavar="N",
                        help="train each cell in run directories of N seeds (<cell>/seed-S/ "
                             "for N = 1), so a long cell grows piece by piece and a rerun "
                             "trains only the missing seeds (default: one run directory)")
    parser.add_argument("--sweep", default="none", metavar="none|CONFIGS|all",
                        help="sklearn sweep configurations to run too (`fmnist sweep --list`); "
                             "default none")
    parser.add_argument("--sweep-subset", type=int, metavar="N",
                        help="the sweep trains on the first N of all 60000 training images "
                             "(`fmnist sweep --train-subset`; the cells' subset is "
                             "--train-subset)")
    parser.add_argument("--sweep-max-iter", type=int, metavar="N",
                        help="override every sweep configuration's max_iter")
    parser.add_argument("--out", metavar="DIR",
                        help="study directory; running into it again skips finished cells and "
                             "resumes interrupted ones (default runs/study-<time>)")
    parser.add_argument("--quick", action="store_true",
                        help="the whole pipeline at toy scale in about a minute: simple and "
                             "big, 2 seeds x 2 epochs on 2000 images per cell, a "
                             "2-configuration sweep on 1000 images")
    parser.add_argument("--max-epochs", type=int, default=protocol.MAX_EPOCHS, metavar="N",
                        help="upper bound on epochs (default %(default)s)")
    parser.add_argument("--patience", type=int, default=protocol.PATIENCE, metavar="N",
                        help="early-stopping patience (default %(default)s)")
    parser.add_argument("--train-subset", type=int, metavar="N",
                        help="every cell trains on the first N of the study's 50000 training "
                             "images (the sweep's subset is --sweep-subset)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="compute precision of every cell (default %(default)s)")
    parser.add_argument("--eval-loss", choices=protocol.EVAL_LOSSES, default=protocol.EVAL_LOSSES[0],
                        help="loss definition (default %(default)s, the study's)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--checkpoint-every", type=int, default=10, metavar="EPOCHS",
                        help="save each cell's state this often (default %(default)s)")
    add_data_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress output")


def study_from_args(args):
    from fmnist_jax.study import Study, quick

    if args.quick:
        study = quick()
    else:
        train = replace(Study().train, max_epochs=args.max_epochs, patience=args.patience,
                        train_subset=args.train_subset, precision=args.precision,
                        eval_loss=args.eval_loss, seed=args.seed,
                        checkpoint_every=args.checkpoint_every)
        sweep = () if args.sweep == "none" else tuple(c.name for c in _sweep_configs(args.sweep))
        study = Study(seeds=args.seeds, train=train, sweep=sweep, sweep_subset=args.sweep_subset,
                      sweep_max_iter=args.sweep_max_iter, seeds_per_run=args.seeds_per_run)
    study = replace(study, models=args.models or study.models, frameworks=args.frameworks,
                    train=replace(study.train, progress=not args.quiet))
    if args.seeds <= 0:
        raise ConfigError(f"--seeds must be positive, got {args.seeds}")
    return study.validate()


def _sweep_configs(spec: str):
    from fmnist_jax.mlp.sweep import select

    return select(spec)


def run(args) -> int:
    from fmnist_jax.reporting.rundir import timestamped
    from fmnist_jax.study import run_study

    study = study_from_args(args)
    out = Path(args.out or timestamped("study"))
    print(summary(run_study(study, out, args.data_dir), out))
    return 0


def summary(result: dict, out: Path) -> str:
    """A few lines for the terminal: each cell's mean test accuracy, the sweep, the report."""
    from fmnist_jax.reporting.study_report import cell_summary

    cells = result["cells"]
    lines = [f"study: {len(cells)} cell(s) done"]
    for (framework, model), results in cells.items():
        cell = cell_summary(results)  # the report's statistics: diverged runs left out
        mean = "n/a" if cell["accuracy"]["n"] == 0 else f"{cell['accuracy']['mean']:.4f}"
        lines.append(f"  {framework:<6} {model:<7} mean test accuracy {mean} "
                     f"(n={cell['accuracy']['n']}"
                     + (f", {cell['diverged']} diverged)" if cell["diverged"] else ")"))
    if result["sweep"]:
        configs = {row["name"] for row in result["sweep"]}
        lines.append(f"  sklearn sweep: {len(result['sweep'])} fit(s) of {len(configs)} "
                     "configuration(s)")
    lines.append(f"report: {out / 'report.md'} (beside report.json and the plots)")
    return "\n".join(lines)
