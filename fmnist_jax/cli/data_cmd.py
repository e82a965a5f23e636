"""`fmnist data`: verify (or download) the four Fashion-MNIST files and say where they are."""

HELP = "verify the four Fashion-MNIST files (downloading missing ones) and say where they are"


def add_arguments(parser) -> None:
    parser.add_argument("--data-dir", help="directory to check or fill "
                                           "(default $FMNIST_DATA_DIR, else the user cache)")


def run(args) -> int:
    from fmnist_jax.data.idx import FILES, ensure_files, read_idx

    paths = ensure_files(args.data_dir, download=True)
    for key, path in paths.items():
        array = read_idx(path, FILES[key])
        print(f"ok  {path}  {'x'.join(map(str, array.shape))}  sha256 matches the release")
    print(f"data directory: {next(iter(paths.values())).parent.resolve()}")
    return 0
