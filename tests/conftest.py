"""Shared fixtures: the real data directory (skips only when it is absent)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data" / "fashion-mnist"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """$FMNIST_DATA_DIR, else ../shared/data/fashion-mnist; skips when neither exists."""
    chosen = Path(os.environ.get("FMNIST_DATA_DIR") or SHARED_DATA).resolve()
    if not chosen.is_dir():
        pytest.skip(f"real Fashion-MNIST data not found at {chosen}")
    return chosen
