"""`fmnist train`: the study's protocol in JAX, K seeds (x learning rates) in one program."""

from fmnist_jax.cli.options import add_training_options, run_training
from fmnist_jax.config import CONV_IMPLS

HELP = "train a model in JAX (many seeds in one compiled program) and write a run directory"


def add_arguments(parser) -> None:
    add_training_options(parser)
    parser.add_argument("--flax-init", action="store_true",
                        help="Flax's default initialisation instead of PyTorch's")
    parser.add_argument("--conv", choices=CONV_IMPLS, default=CONV_IMPLS[0],
                        help="how the CNN's convolutions run: patches (as matmuls, fast in "
                             "XLA's CPU loop and under vmap), lax (lax.conv, the GPU/TPU "
                             "path) or auto (patches on a CPU, lax elsewhere); default "
                             "%(default)s")
    hosts = parser.add_argument_group(
        "several hosts", "run the same command on every host; the runs are sharded over all "
                         "their devices and process 0 writes the run directory")
    hosts.add_argument("--coordinator", metavar="HOST:PORT",
                       help="address of process 0 (jax.distributed.initialize)")
    hosts.add_argument("--num-processes", type=int, metavar="N", help="number of processes in all")
    hosts.add_argument("--process-id", type=int, metavar="I",
                       help="this process's index, 0 to N-1")


def run(args) -> int:
    if args.coordinator:
        from fmnist_jax.api import init_hosts

        init_hosts(args.coordinator, args.num_processes, args.process_id)
    return run_training("jax", args, torch_init=not args.flax_init, conv=args.conv)
