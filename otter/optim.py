"""Learning-rate schedulers that torch does not ship."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["PolynomialLRWarmup"]


class PolynomialLRWarmup(LRScheduler):
    """Linear warmup to the base LR, then polynomial decay to zero, by steps or by a time budget.

    Stepped once per optimizer step (``pl_options.interval: step``). In a config,
    ``warmup_iters: -1`` and ``total_iters: -1`` are derived from the run
    (10% warmup; total from epochs, dataset length, batch size, accumulation, devices),
    and ``max_seconds: -1`` from ``trainer.max_time``.

    With ``max_seconds`` the decay follows whichever is further along: the steps made
    out of ``total_iters``, or the training time spent out of ``max_seconds``. A run
    that ``trainer.max_time`` stops on a slow machine then still ends with its LR
    annealed to zero instead of being cut off half way; on a fast machine the steps
    decide and nothing changes. The price: the LR then depends on the machine's
    speed, so such a run is not repeated bit for bit (nor is a resume of it). The time
    spent is kept in the scheduler's state, so a resumed run goes on from it.

    Args:
        optimizer: The wrapped optimizer.
        warmup_iters: Steps of linear warmup.
        total_iters: Step at which the LR reaches zero.
        power: Exponent of the decay; 1.0 is linear.
        last_epoch: The index of the last step, for resuming.
        max_seconds: Training time (seconds) at which the LR reaches zero at the latest;
            0: steps only.
        clock: Seconds of a monotonic clock (tests pass their own).

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
        max_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if warmup_iters < 0 or total_iters < 1:
            raise ValueError(
                f"PolynomialLRWarmup needs warmup_iters >= 0 and total_iters >= 1, got {warmup_iters} and {total_iters}"
                " (-1 is only understood in a config, where Otter derives it)"
            )
        if max_seconds < 0:
            raise ValueError(
                f"PolynomialLRWarmup needs max_seconds >= 0 (0: steps only), got {max_seconds}"
                " (-1 is only understood in a config, where Otter takes trainer.max_time)"
            )
        self.warmup_iters = int(warmup_iters)
        self.total_iters = int(total_iters)
        self.power = float(power)
        self.max_seconds = float(max_seconds)
        #: Training seconds spent before this process (restored from a checkpoint).
        self.elapsed = 0.0
        self._clock = clock
        self._start = None
        super().__init__(optimizer, last_epoch)

    def seconds(self) -> float:
        """Training time spent so far, this process's and that of the runs it resumes."""
        now = self._clock()
        if self._start is None:
            self._start = now - self.elapsed
        return now - self._start

    def _factor(self, step: int) -> float:
        if step < self.warmup_iters:
            # Start above zero so the first step already learns.
            return (step + 1) / (self.warmup_iters + 1)
        decay_steps = max(1, self.total_iters - self.warmup_iters)
        progress = (step - self.warmup_iters) / decay_steps
        if self.max_seconds > 0:
            progress = max(progress, self.seconds() / self.max_seconds)
        return (1.0 - min(1.0, progress)) ** self.power

    def get_lr(self) -> List[float]:
        factor = self._factor(self.last_epoch)
        return [base * factor for base in self.base_lrs]

    def state_dict(self) -> Dict[str, Any]:
        if self.max_seconds > 0:
            self.elapsed = self.seconds()
        state = super().state_dict()
        for name in ("_clock", "_start"):
            state.pop(name, None)
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._start = self._clock() - self.elapsed  # the clock goes on from the restored time
