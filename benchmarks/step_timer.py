"""How well the time budget's step timer predicts a CNN's steady training step on this CPU.

``deep.time_budget_min`` turns minutes into epochs from a few timed training steps
(``sonomics.deep.estimate.seconds_per_step``). This compares, alternating so both see
the same machine load, the timer before 2026-12-03 (one warm-up step, then the slower of
two) with the current one (two warm-up steps, then the median of five) against the
steady step: the median of steps 6-30 of a fresh network. Each measurement runs in a
fresh Python process, as the study's timer does (its first steps pay for the allocator
and kernel set-up that later networks in the same process reuse).

    python benchmarks/step_timer.py [--backbone resnet18] [--size 128] [--batch 32] [--repeats 5]

Prints one line per repeat and the median ratio timer / steady of each method.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from sonomics.deep.estimate import seconds_per_step, step_times


def old_timer(name: str, size: int, batch: int) -> float:
    """The timer of 4c59a91 and before: one warm-up step, then the slower of two."""
    return max(step_times(name, size, batch, "cpu", 3)[1:])


def steady_step(name: str, size: int, batch: int) -> float:
    return statistics.median(step_times(name, size, batch, "cpu", 30)[5:])


def in_fresh_process(method: str, name: str, size: int, batch: int) -> float:
    """Seconds per step by ``method`` (old, new, steady), measured in a new process."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import step_timer as t; print(t.METHODS[{method!r}]({name!r}, {size}, {batch}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return float(out.strip().splitlines()[-1])


def new_timer(name: str, size: int, batch: int) -> float:
    return seconds_per_step(name, size, batch, device="cpu")


METHODS = {"old": old_timer, "new": new_timer, "steady": steady_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.backbone} {args.size} px, batch {args.batch}, "
          f"{torch.get_num_threads()} threads, each measurement in a fresh process")
    old, new = [], []
    for r in range(args.repeats):
        steady, o, n = (in_fresh_process(m, args.backbone, args.size, args.batch)
                        for m in ("steady", "old", "new"))
        old.append(o / steady)
        new.append(n / steady)
        print(f"repeat {r + 1}: steady {steady:.3f} s, old timer {o:.3f} s "
              f"({o / steady:.2f}x), new timer {n:.3f} s ({n / steady:.2f}x)")
    print(f"median ratio to the steady step: old {statistics.median(old):.2f}x "
          f"(range {min(old):.2f}-{max(old):.2f}), new {statistics.median(new):.2f}x "
          f"(range {min(new):.2f}-{max(new):.2f})")


if __name__ == "__main__":
    main()
