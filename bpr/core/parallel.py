"""Ordered map over worker processes with a progress bar, for the dataset tools."""
from multiprocessing import Pool
from typing import Callable, Iterable, List

from tqdm import tqdm


def parallel_map(fn: Callable, jobs: Iterable, num_proc: int = 1, desc: str = None,
                 progress: bool = True) -> List:
    """``[fn(job) for job in jobs]`` on ``num_proc`` processes (``fn`` must be picklable)."""
    jobs = list(jobs)
    # progress bars on a terminal only (disable=None): logs and pipes get none
    bar = tqdm(total=len(jobs), desc=desc, disable=None if progress else True)
    try:
        if num_proc > 1 and len(jobs) > 1:
            chunk = max(1, min(16, len(jobs) // (4 * num_proc)))
            with Pool(num_proc) as pool:
                out = []
                for r in pool.imap(fn, jobs, chunksize=chunk):
                    out.append(r)
                    bar.update()
                return out
        out = []
        for job in jobs:
            out.append(fn(job))
            bar.update()
        return out
    finally:
        bar.close()
