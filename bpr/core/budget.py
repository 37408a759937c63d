"""Fitting an iteration-based training run into a wall-clock budget."""
import math
import time
from typing import Optional

import torch.distributed as dist
from mmcv.runner import HOOKS, Hook


@HOOKS.register_module()
class TimeBudgetHook(Hook):
    """End training within ``minutes`` of its start, with a complete learning-rate schedule.

    From the measured seconds per iteration, the hook lowers the runner's ``max_iters`` to the
    iterations that fit in the time left (never above the config's), so that schedules which
    read ``runner.max_iters`` every iteration (mmcv's ``poly``, ``cosine``...) decay to their
    end and the last iteration's checkpoint (``save_last``) is written, instead of a run cut
    off mid-schedule by a job's time limit. The estimate is made again every ``interval``
    iterations; the time the run started with (building the data loader's workers, the first
    iterations) counts against the budget but not towards the rate. With several processes,
    rank 0's estimate is broadcast so that every process stops at the same iteration.

    Args:
        minutes: the wall-clock budget of the training loop, from ``before_run``.
        warmup: iterations left out of the rate (the first ones are slower).
        interval: iterations between estimates.
    """

    def __init__(self, minutes: float, warmup: int = 5, interval: int = 10):
        if not 0 < minutes < math.inf:
            raise ValueError(f'TimeBudgetHook: minutes must be positive, got {minutes!r}')
        if warmup < 1 or interval < 1:
            raise ValueError('TimeBudgetHook: warmup and interval must be at least 1')
        self.budget = minutes * 60
        self.warmup, self.interval = warmup, interval
        self.start: Optional[float] = None
        self.begin = 0  # the runner's iteration at the start (a resumed run's)
        self.warm: Optional[tuple] = None  # (iteration, time) when the warm-up ended
        self.max_iters: Optional[int] = None  # the config's

    def before_run(self, runner) -> None:
        self.start = time.monotonic()
        self.begin = runner.iter
        self.max_iters = runner.max_iters

    def fit(self, done: int, now: float) -> Optional[int]:
        """The run's new length once ``done`` iterations are done (counting a resumed run's
        earlier ones), at ``time.monotonic()`` ``now``; ``None`` during the warm-up."""
        ran = done - self.begin
        if ran <= self.warmup:
            if ran == self.warmup:
                self.warm = (done, now)
            return None
        per_iter = max(now - self.warm[1], 1e-6) / (done - self.warm[0])
        left = self.budget - (now - self.start)
        # at least one more iteration: CheckpointHook, whatever its place among the hooks,
        # then sees the last one coming and saves it
        return min(self.max_iters, done + max(1, int(left / per_iter)))

    def after_train_iter(self, runner) -> None:
        done = runner.iter + 1
        ran = done - self.begin
        if done >= runner.max_iters:
            return  # the last iteration: CheckpointHook may have saved it as such
        if ran < self.warmup or (ran > self.warmup and (ran - self.warmup) % self.interval):
            return
        new = [self.fit(done, time.monotonic())]
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.broadcast_object_list(new, src=0)  # every process stops at rank 0's
        if new[0] is None or new[0] == runner.max_iters:
            return
        if runner.max_iters == self.max_iters:
            runner.logger.info(f'TimeBudgetHook: {new[0]} of the {self.max_iters} iterations '
                               f'configured fit in {self.budget / 60:g} min')
        runner._max_iters = new[0]
