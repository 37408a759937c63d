"""Cityscapes instance AP through cityscapesScripts' own evaluation."""
import contextlib
import copy
import glob
import io
import os
import os.path as osp
import tempfile
from typing import Dict

from ..core.io import InputError


def cityscapes_ap(pred_dir: str, gt_dir: str) -> Dict[str, float]:
    """``{'AP', 'AP50'}`` (percent) of a results folder against ``gtFine/<split>``.

    Runs ``evalInstanceLevelSemanticLabeling`` unchanged, on every ``*_gtFine_instanceIds.png``
    below ``gt_dir``; its scratch files go to a temporary folder.
    """
    from cityscapesscripts.evaluation import evalInstanceLevelSemanticLabeling as cs_eval
    gt_files = sorted(glob.glob(osp.join(gt_dir, '*', '*_gtFine_instanceIds.png')))
    if not gt_files:
        raise InputError(f'{gt_dir}: no */*_gtFine_instanceIds.png found')
    args = copy.deepcopy(cs_eval.args)
    args.predictionPath, args.predictionWalk = osp.abspath(pred_dir), None
    args.JSONOutput, args.quiet, args.colorized = False, True, False
    cwd, write_json = os.getcwd(), cs_eval.writeDict2JSON
    # Its scratch dump of all matches cannot serialise NumPy 2 scalars, and is not needed.
    cs_eval.writeDict2JSON = lambda *args, **kwargs: None
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()) as log:
        args.gtInstancesFile = osp.join(tmp, 'gtInstances.json')
        os.chdir(tmp)  # it writes matches.json to the working directory
        try:
            preds = [cs_eval.getPrediction(f, args) for f in gt_files]
            res = cs_eval.evaluateImgLists(preds, gt_files, args)
        except SystemExit:
            raise InputError(f'{pred_dir}: cityscapesScripts refused it: '
                             f'{log.getvalue().strip().splitlines()[-1]}') from None
        finally:
            os.chdir(cwd)
            cs_eval.writeDict2JSON = write_json
    return {'AP': 100 * float(res['averages']['allAp']),
            'AP50': 100 * float(res['averages']['allAp50%'])}
