"""`python -m torch_ref --model M --seeds K ...`: the PyTorch reference without the JAX side."""

from torch_ref.cli import main

raise SystemExit(main())
