"""Mask AP, boundary AP and boundary F-score of instance results, several side by side.

    python tools/eval.py GT_JSON coarse.json refined.json [--out metrics.json]
    python tools/eval.py GT_JSON coarse_dir refined_dir --gtfine data/cityscapes/gtFine/val

Results are COCO-form JSON files or Cityscapes-form folders (txt + PNG; GT_JSON is then the
instancesonly_filtered_gtFine_*.json). AP/AP50/AP75: pycocotools. bAP*: Boundary IoU
(d = 2% of the image diagonal; a detection matches on min(mask IoU, boundary IoU)). AF*: AP
computed with the boundary F-score (tolerance ceil(0.00088 x diagonal) px) as the overlap.
mIoU/mBIoU: mean mask IoU / Boundary IoU of each result with its best-matching GT instance.
With --gtfine, csAP/csAP50 come from cityscapesScripts' own evaluation. LVIS ground truth
gets COCO's figures too, with a note: LVIS's own AP is federated (lvis-api).
"""
import argparse
import os.path as osp
import sys

from bpr.core.cityscapes import cityscapes_to_coco
from bpr.core.io import check_output, cli, dump_json, load_gt, load_results
from bpr.evaluation import cityscapes_ap, coco_mask_metrics

# image fields of LVIS's federated annotation (categories verified absent / not exhaustive)
LVIS_FIELDS = ('neg_category_ids', 'not_exhaustive_category_ids')
SHOWN = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'bAP', 'bAP50', 'bAP75', 'bAPs', 'bAPm',
         'bAPl', 'AF', 'AF50', 'AF75', 'mIoU', 'mBIoU', 'csAP', 'csAP50')


def evaluate(gt_json: str, gt: dict, path: str, dilation_ratio: float, gtfine: str = None):
    if osp.isdir(path):
        metrics = coco_mask_metrics(gt, cityscapes_to_coco(path, gt, progress=False),
                                    dilation_ratio=dilation_ratio, fscore=True)
        if gtfine:
            metrics.update({'cs' + k: v for k, v in cityscapes_ap(path, gtfine).items()})
        return metrics
    return coco_mask_metrics(gt, load_results(path, gt, gt_json),
                             dilation_ratio=dilation_ratio, fscore=True)


def table(metrics: dict) -> str:
    names = list(metrics)
    width = max(12, *(len(n) for n in names))
    lines = [f'{"":<8}' + ''.join(f'{n:>{width + 2}}' for n in names)]
    for key in (k for k in SHOWN if all(k in m for m in metrics.values())):
        lines.append(f'{key:<8}' + ''.join(f'{metrics[n][key]:>{width + 2}.2f}' for n in names))
    return '\n'.join(lines)


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('results', nargs='+', help='COCO-form files or Cityscapes-form folders')
    parser.add_argument('--gtfine', help='gtFine/<split> folder: also cityscapesScripts AP')
    parser.add_argument('--dilation-ratio', type=float, default=0.02,
                        help='boundary width as a fraction of the image diagonal')
    parser.add_argument('--out', help='write the metrics as JSON')
    args = parser.parse_args(argv)
    if args.out:
        check_output(args.out, [args.gt_json, *args.results])
    gt = load_gt(args.gt_json)
    if any(f in img for img in gt['images'] for f in LVIS_FIELDS):
        print(f'note: {args.gt_json} is LVIS ground truth: these are COCO figures, every '
              "category counted in every image; LVIS's own AP is federated (lvis-api)",
              file=sys.stderr)
    metrics = {osp.basename(osp.normpath(p)): evaluate(args.gt_json, gt, p,
                                                       args.dilation_ratio, args.gtfine)
               for p in args.results}
    print(table(metrics))
    if args.out:
        dump_json(metrics, args.out)


if __name__ == '__main__':
    main()
