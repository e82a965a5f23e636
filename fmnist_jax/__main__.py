"""`python -m fmnist_jax` is the `fmnist` command."""

from fmnist_jax.cli.main import main

raise SystemExit(main())
