"""A compact per-epoch table printed from inside the compiled training loop."""

import sys
import time

import numpy as np


class EpochTable:
    """Collects the per-run reports of one loop iteration (one per vmapped run, finished runs
    included) and prints one line for the runs still active."""

    def __init__(self, runs: int, out=sys.stdout):
        self.runs, self.out = runs, out
        self.reports: list[tuple] = []
        self.start = time.perf_counter()

    def __call__(self, active, epoch, train_loss, val_loss, val_accuracy) -> None:
        self.reports.append(tuple(np.asarray(v).item() for v in
                                  (active, epoch, train_loss, val_loss, val_accuracy)))
        if len(self.reports) < self.runs:
            return
        rows = np.array([r[1:] for r in self.reports if r[0]], dtype=np.float64).reshape(-1, 4)
        self.reports = []
        if len(rows):
            self.out.write(self.line(rows) + "\n")
            self.out.flush()

    def line(self, rows: np.ndarray) -> str:
        epoch, train_loss, val_loss, val_accuracy = rows.max(0)[0], *rows.mean(0)[1:]
        elapsed = time.perf_counter() - self.start
        active = f" | active {len(rows)}/{self.runs}" if self.runs > 1 else ""
        mean = "mean " if self.runs > 1 else ""
        return (f"epoch {int(epoch):4d}{active} | {mean}train loss {train_loss:.4f} | "
                f"val loss {val_loss:.4f} | val acc {val_accuracy:.4f} | {elapsed:7.1f} s")
