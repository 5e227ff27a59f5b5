"""Learning-rate schedulers that torch does not ship."""

from __future__ import annotations

from typing import List

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["PolynomialLRWarmup"]


class PolynomialLRWarmup(LRScheduler):
    """Linear warmup to the base LR, then polynomial decay to zero.

    Stepped once per optimizer step (``pl_options.interval: step``). In a config,
    ``warmup_iters: -1`` and ``total_iters: -1`` are derived from the run
    (10% warmup; total from epochs, dataset length, batch size, accumulation, devices).

    Args:
        optimizer: The wrapped optimizer.
        warmup_iters: Steps of linear warmup.
        total_iters: Step at which the LR reaches zero.
        power: Exponent of the decay; 1.0 is linear.
        last_epoch: The index of the last step, for resuming.

    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = PolynomialLRWarmup(opt, warmup_iters=2, total_iters=4)
    >>> [round(sched._factor(step), 2) for step in range(5)]
    [0.33, 0.67, 1.0, 0.5, 0.0]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_iters: int,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ):
        if warmup_iters < 0 or total_iters < 1:
            raise ValueError(
                f"PolynomialLRWarmup needs warmup_iters >= 0 and total_iters >= 1, got {warmup_iters} and {total_iters}"
                " (-1 is only understood in a config, where Otter derives it)"
            )
        self.warmup_iters = int(warmup_iters)
        self.total_iters = int(total_iters)
        self.power = float(power)
        super().__init__(optimizer, last_epoch)

    def _factor(self, step: int) -> float:
        if step < self.warmup_iters:
            # Start above zero so the first step already learns.
            return (step + 1) / (self.warmup_iters + 1)
        decay_steps = max(1, self.total_iters - self.warmup_iters)
        progress = min(1.0, (step - self.warmup_iters) / decay_steps)
        return (1.0 - progress) ** self.power

    def get_lr(self) -> List[float]:
        factor = self._factor(self.last_epoch)
        return [base * factor for base in self.base_lrs]
