"""TimeBudgetHook: a training run shortened to the iterations that fit in its time."""
import glob
import json
import logging
import os.path as osp
import subprocess
from types import SimpleNamespace

import pytest

from bpr.core import budget
from bpr.core.budget import TimeBudgetHook
from helpers import ROOT, TINY_CONFIG
from test_scripts import run


class Runner:
    """What the hook reads and writes of mmcv's IterBasedRunner."""

    def __init__(self, max_iters: int, start: int = 0):
        self.iter, self._max_iters = start, max_iters
        self.logger = logging.getLogger('test_budget')

    @property
    def max_iters(self):
        return self._max_iters


def simulate(monkeypatch, hook, runner, seconds_per_iter, startup=0.0):
    """Run the runner's loop as IterBasedRunner does, on a fake clock, with CheckpointHook's
    ``save_last`` before the hook; return the time taken."""
    clock = [1000.0]
    monkeypatch.setattr(budget, 'time', SimpleNamespace(monotonic=lambda: clock[0]))
    hook.before_run(runner)
    clock[0] += startup
    saved = []
    while runner.iter < runner.max_iters:
        clock[0] += seconds_per_iter(runner.iter)
        if runner.iter + 1 == runner.max_iters:
            saved.append(runner.iter + 1)
        hook.after_train_iter(runner)
        runner.iter += 1
    assert saved[-1] == runner.iter, (saved, runner.iter)  # the last iteration was saved
    return clock[0] - 1000.0


def test_run_ends_within_its_budget(monkeypatch):
    runner = Runner(10000)
    # 20 s of start-up, a first iteration of 5 s, then 0.5 s each: 100 s hold 151
    elapsed = simulate(monkeypatch, TimeBudgetHook(minutes=100 / 60), runner,
                       lambda i: 5.0 if i == 0 else 0.5, startup=20)
    assert 149 <= runner.iter <= 160, runner.iter
    assert 95 <= elapsed <= 100 + 10 * 0.5, elapsed


def test_run_that_fits_keeps_its_length(monkeypatch):
    runner = Runner(50)
    simulate(monkeypatch, TimeBudgetHook(minutes=10), runner, lambda i: 1.0)
    assert runner.iter == runner.max_iters == 50


def test_estimate_follows_a_slower_rate(monkeypatch):
    runner = Runner(10000)
    # 1 s per iteration for 60 iterations, then 3 s: the first estimate (~300) is revised
    elapsed = simulate(monkeypatch, TimeBudgetHook(minutes=5), runner,
                       lambda i: 1.0 if i < 60 else 3.0)
    assert 280 <= elapsed <= 300 + 10 * 3.0, elapsed
    assert runner.iter < 160


@pytest.mark.parametrize('interval, ends', [(5, range(26, 10000)), (10, [25])])
def test_faster_iterations_extend_the_run_but_not_past_its_end(monkeypatch, interval, ends):
    runner = Runner(10000)
    # 4 s per iteration until the first estimate (25 fit), then 0.1 s: the run is lengthened
    # at the next estimate if it comes before the 25th iteration, else it ends there (saved)
    simulate(monkeypatch, TimeBudgetHook(minutes=100 / 60, interval=interval), runner,
             lambda i: 4.0 if i < 5 + interval else 0.1)
    assert runner.iter in ends, runner.iter


def test_resumed_run_counts_from_where_it_starts(monkeypatch):
    runner = Runner(1000, start=400)
    elapsed = simulate(monkeypatch, TimeBudgetHook(minutes=1, warmup=2, interval=5), runner,
                       lambda i: 1.0)
    assert 455 <= runner.iter <= 461, runner.iter
    assert elapsed <= 60 + 5


def test_budget_spent_in_the_warmup_still_ends_on_a_last_iteration(monkeypatch):
    runner = Runner(1000)
    simulate(monkeypatch, TimeBudgetHook(minutes=0.01), runner, lambda i: 2.0)
    # the first estimate, after the warm-up (5) and an interval (10), leaves one more
    assert runner.iter == runner.max_iters == 16


@pytest.mark.parametrize('kwargs', [dict(minutes=0), dict(minutes=-1),
                                    dict(minutes=float('inf')), dict(minutes=1, warmup=0),
                                    dict(minutes=1, interval=0)])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match='TimeBudgetHook'):
        TimeBudgetHook(**kwargs)


def test_train_py_time_budget_completes_the_schedule(patches, tmp_path):
    work = str(tmp_path / 'work')
    run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', work, '--no-validate',
         '--device', 'cpu', '--seed', '0', '--time-budget', '0.2', '--cfg-options',
         'runner.max_iters=100000', 'checkpoint_config.interval=100000', 'log_config.interval=1',
         'optimizer.lr=0.01'], env=dict(DATA_ROOT=patches), timeout=600)
    log = open(glob.glob(osp.join(work, '*.log'))[0]).read()
    assert 'iterations configured fit in 0.2 min' in log
    rows = [json.loads(line) for line in open(glob.glob(osp.join(work, '*.log.json'))[0])]
    train = [r for r in rows if r.get('mode') == 'train']
    last = train[-1]['iter']
    assert 16 <= last < 100000  # the first estimate: after 5 + 10 iterations, one more
    # the run's last iteration was saved, and the poly schedule had decayed to it
    assert osp.isfile(osp.join(work, f'iter_{last}.pth'))
    assert train[-1]['lr'] < 0.1 * train[0]['lr'], (train[0]['lr'], train[-1]['lr'])


@pytest.mark.parametrize('minutes', ['0', '-2', 'inf', 'soon'])
def test_train_py_refuses_a_bad_budget_before_any_work(minutes, tmp_path):
    proc = subprocess.run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir',
                           str(tmp_path / 'work'), '--time-budget', minutes],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert f"argument --time-budget: '{minutes}': expected a positive number of minutes" \
        in proc.stderr
    assert not (tmp_path / 'work').exists()


def test_dist_train_processes_stop_together(patches, tmp_path):
    # were the processes to stop at different iterations, the one still training would wait
    # for the other's gradients until the timeout
    work = str(tmp_path / 'work')
    run(['bash', 'tools/dist_train.sh', TINY_CONFIG, '2', '--work-dir', work, '--no-validate',
         '--device', 'cpu', '--time-budget', '0.2', '--cfg-options', 'runner.max_iters=100000',
         'checkpoint_config.interval=100000'],
        env=dict(DATA_ROOT=patches, PORT='29631'), timeout=300)
    saved = glob.glob(osp.join(work, 'iter_*.pth'))
    assert len(saved) == 1 and int(saved[0][:-4].rsplit('_', 1)[1]) >= 16, saved
