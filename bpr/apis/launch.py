"""``torchrun`` for bpr's tools: the same options, and a failed run told in one line.

    python -m bpr.apis.launch [torchrun options] SCRIPT ARGS...

A worker that refuses its input (:func:`bpr.core.io.cli`) leaves its one-line message in a
folder this launcher reads when the run fails; the messages are printed once each, with no
launcher banner, and the exit status is the workers' (1, or 130 after Ctrl-C). Set
``BPR_VERBOSE=1`` for torchrun's own logging and banner.
"""
import logging
import os
import sys
import tempfile
from typing import List, Optional

from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

from ..compat import verbose
from ..core.io import ERROR_DIR, INTERRUPTED


def worker_errors(folder: str) -> List[str]:
    """The distinct messages left by the workers in ``folder``, in rank order."""
    names = sorted(os.listdir(folder), key=lambda n: int(n) if n.isdigit() else -1)
    messages = []
    for name in names:
        with open(os.path.join(folder, name)) as f:
            message = f.read().strip()
        if message and message not in messages:
            messages.append(message)
    return messages


def main(argv: Optional[List[str]] = None) -> None:
    if not verbose():
        for name in ('torch.distributed.run', 'torch.distributed.elastic',
                     'torch.distributed.launcher'):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    args = torchrun.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='bpr_errors_') as folder:
        os.environ[ERROR_DIR] = folder
        try:
            torchrun.run(args)
            return
        except ChildFailedError as err:
            if verbose():
                raise
            messages = worker_errors(folder)
            if not messages:  # a crash: the worker printed its own traceback
                rank, failure = err.get_first_failure()
                messages = [f'error: {args.training_script}: rank {rank} exited with status '
                            f'{failure.exitcode}']
        except (KeyboardInterrupt, SignalException):
            messages = [INTERRUPTED]
    for message in messages:
        print(message, file=sys.stderr)
    sys.exit(130 if INTERRUPTED in messages else 1)


if __name__ == '__main__':
    main()
