"""The shell entry points, run as users type them, on CPU processes."""
import glob
import json
import os
import os.path as osp
import pickle
import re
import shutil
import subprocess

import cv2
import mmcv
import numpy as np
import pycocotools.mask as mask_utils
import pytest

from helpers import ROOT, TINY_CONFIG, random_checkpoint


def run(cmd, env=None, cwd=ROOT, **kw):
    env = dict(os.environ, OMP_NUM_THREADS='1', **(env or {}))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f'{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc


def _losses(work_dir):
    logs = glob.glob(osp.join(work_dir, '*.log.json'))
    assert logs, os.listdir(work_dir)
    rows = [json.loads(line) for line in open(logs[0]) if '"loss"' in line]
    return [r['loss'] for r in rows if r.get('mode') == 'train']


def test_dist_train_two_cpu_processes(patches, tmp_path):
    work = str(tmp_path / 'work')
    # lr 0.025 for a total batch of 4, scaled to the 2 x 4 patches run here: 0.05
    proc = run(['bash', 'tools/dist_train.sh', TINY_CONFIG, '2', '--work-dir', work,
                '--no-validate', '--seed', '0', '--auto-scale-lr', '--device', 'cpu',
                '--cfg-options',
                'runner.max_iters=30', 'optimizer.lr=0.025', 'auto_scale_lr.base_batch_size=4',
                'checkpoint_config.interval=30', 'log_config.interval=5'],
               env=dict(DATA_ROOT=patches, PORT='29611'), timeout=900)
    assert osp.isfile(osp.join(work, 'iter_30.pth'))
    text = proc.stdout + proc.stderr
    assert 'SyncBN' not in text or 'replaced by BN' in text
    log = open(glob.glob(osp.join(work, '*.log'))[0]).read()
    assert re.search(r'eta: \d', log)
    assert 'Learning rate scaled from 0.025 to 0.05: total batch 8 (2 x 4)' in log
    assert 'Distributed training: True (cpu)' in log
    rows = [json.loads(line) for line in open(glob.glob(osp.join(work, '*.log.json'))[0])]
    first_lr = next(r['lr'] for r in rows if r.get('mode') == 'train')
    assert 0.04 < first_lr <= 0.05, first_lr  # poly from 0.05 at iteration 5 of 30
    losses = _losses(work)
    assert len(losses) >= 4
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses
    # CPU training runs in NHWC memory, so the saved weights have its strides
    import torch
    weight = torch.load(osp.join(work, 'iter_30.pth'), map_location='cpu',
                        weights_only=False)['state_dict']['backbone.conv1.weight']
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()
    # the checkpoint loads into the config for inference
    from bpr.apis import init_refiner
    init_refiner(TINY_CONFIG, osp.join(work, 'iter_30.pth'), device='cpu')
    # and training resumes from it (single process)
    run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', work, '--no-validate',
         '--device', 'cpu',
         '--resume-from', osp.join(work, 'iter_30.pth'), '--cfg-options', 'runner.max_iters=35',
         'checkpoint_config.interval=35'], env=dict(DATA_ROOT=patches))
    assert osp.isfile(osp.join(work, 'iter_35.pth'))


def test_train_with_bad_data_root_fails_before_building(tmp_path):
    proc = subprocess.run(['python', 'tools/train.py', TINY_CONFIG], cwd=ROOT,
                          env=dict(os.environ, DATA_ROOT=str(tmp_path / 'absent')),
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'absent' in proc.stderr.strip().splitlines()[-1]


def test_train_device_is_checked_before_any_work(patches, tmp_path):
    from bpr.apis.dist import init_dist
    from bpr.core.io import InputError
    proc = subprocess.run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', str(tmp_path),
                           '--device', 'cuda:99'], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, DATA_ROOT=patches))
    assert proc.returncode == 2
    assert re.search(r"train.py: error: argument --device: device 'cuda:99': "
                     r'(no CUDA GPU is available here|this machine has \d+ CUDA)',
                     proc.stderr.strip().splitlines()[-1]), proc.stderr
    assert not os.listdir(tmp_path)
    # under a launcher each process takes its local rank's GPU: no index
    with pytest.raises(InputError, match=r"device 'cuda:1' with a launcher: cpu or cuda"):
        init_dist(launcher='pytorch', device='cuda:1')


@pytest.mark.parametrize('device, current, gpu_ids', [('cuda:1', 1, [1]), ('cuda', None, [0]),
                                                     (None, None, [0])])
def test_train_on_the_gpu_asked_for(monkeypatch, patches, tmp_path, device, current, gpu_ids):
    import torch
    import bpr.apis.train as train_api
    # a machine with two GPUs, as far as the device choice can tell
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    chosen = []

    def set_device(index):  # torch's needs an index
        assert isinstance(index, int), index
        chosen.append(index)

    monkeypatch.setattr(torch.cuda, 'set_device', set_device)
    seen = {}
    monkeypatch.setattr(train_api, 'train_refiner',
                        lambda model, datasets, cfg, **kw: seen.update(cfg=cfg))
    monkeypatch.setenv('DATA_ROOT', patches)
    train_api.run_training(TINY_CONFIG, str(tmp_path), validate=False, seed=0, device=device)
    assert chosen == ([] if current is None else [current])
    assert seen['cfg'].device == 'cuda' and list(seen['cfg'].gpu_ids) == gpu_ids


def test_scale_lr_follows_the_total_batch():
    from bpr.apis.train import scale_lr
    cfg = mmcv.Config.fromfile(osp.join(ROOT, 'configs/bpr/hrnet18s_128.py'))
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=32)  # the paper's 4 x 8
    assert 'off' in scale_lr(cfg, 4) and cfg.optimizer.lr == 0.01
    cfg.auto_scale_lr.enable = True
    assert 'from 0.01 to 0.0025: total batch 8 (1 x 8)' in scale_lr(cfg, 1)
    cfg.optimizer.lr = 0.01
    cfg.data.train_dataloader = dict(samples_per_gpu=32)  # mmseg's per-loader override wins
    scale_lr(cfg, 2)
    assert cfg.optimizer.lr == pytest.approx(0.02)


def test_auto_scale_lr_without_a_base_batch_fails_before_building(patches, tmp_path):
    proc = subprocess.run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir',
                           str(tmp_path), '--auto-scale-lr', '--cfg-options',
                           'auto_scale_lr.base_batch_size=0'], cwd=ROOT,
                          env=dict(os.environ, DATA_ROOT=patches), capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f'error: {TINY_CONFIG}: auto_scale_lr.base_batch_size 0: expected a positive integer '
        "(the total batch the config's learning rate is meant for)")
    assert not glob.glob(str(tmp_path / '*.log'))


def test_process_group_is_destroyed_before_exit():
    # A gloo group left alive at exit occasionally aborted a finished run (SIGABRT).
    code = """if True:
        import atexit
        import torch.distributed as dist
        atexit.register(lambda: print('alive at exit:', dist.is_initialized()))
        from bpr.apis.dist import init_dist
        init_dist()
        print('initialized:', dist.is_initialized())
    """
    proc = run(['python', '-c', code], env=dict(MASTER_ADDR='127.0.0.1', MASTER_PORT='29614',
                                                RANK='0', WORLD_SIZE='1', LOCAL_RANK='0'))
    assert 'initialized: True' in proc.stdout
    assert 'alive at exit: False' in proc.stdout


def test_dist_test_order_and_length(patches, tmp_path):
    single, double = str(tmp_path / 'one.pkl'), str(tmp_path / 'two.pkl')
    env = dict(DATA_ROOT=patches, PORT='29612')
    # the same random weights in both runs, through a saved checkpoint
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    run(['python', 'tools/test.py', TINY_CONFIG, ckpt, '--out', single, '--device', 'cpu'],
        env=env)
    proc = run(['bash', 'tools/dist_test.sh', TINY_CONFIG, ckpt, '2', '--out', double,
                '--eval', 'mIoU'], env=env)
    assert 'mIoU' in proc.stdout
    a, b = pickle.load(open(single, 'rb')), pickle.load(open(double, 'rb'))
    n = len(os.listdir(osp.join(patches, 'img_dir', 'val')))
    assert len(a) == len(b) == n
    for x, y in zip(a, b):
        assert x.shape == (32, 32) and np.allclose(x, y, atol=1e-5)


def test_inference_coco_sh_end_to_end(coco, tmp_path):
    out = str(tmp_path / 'refined.json')
    run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, 'none', coco['coarse'], out],
        env=dict(IMG_DIR=coco['img_dir'], GT_JSON=coco['gt'], IOU_THRESH='0.25',
                 PATCH_SIZE='32'))
    coarse, refined = json.load(open(coco['coarse'])), json.load(open(out))
    assert [r['extra'] for r in refined] == [c['extra'] for c in coarse]
    run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, 'none', coco['coarse'],
         str(tmp_path / 'two.json')],
        env=dict(IMG_DIR=coco['img_dir'], GT_JSON=coco['gt'], GPUS='2', PORT='29613',
                 PATCH_SIZE='32'))
    two = json.load(open(tmp_path / 'two.json'))
    assert len(two) == len(coarse)
    assert [r['extra'] for r in two] == [c['extra'] for c in coarse]


def test_prepare_dataset_coco_sh(coco, tmp_path):
    out = str(tmp_path / 'ds')
    run(['sh', 'tools/prepare_dataset_coco.sh', coco['coarse'], coco['coarse'], out, '4'],
        env=dict(IMG_DIR_TRAIN=coco['img_dir'], IMG_DIR_VAL=coco['img_dir'],
                 GT_JSON_TRAIN=coco['gt'], GT_JSON_VAL=coco['gt'], IOU_THRESH='0.15',
                 PATCH_SIZE='32', NUM_PROC='2'))
    train = os.listdir(osp.join(out, 'patches', 'detail_dir', 'train'))
    assert 0 < len(train) <= 4
    assert os.listdir(osp.join(out, 'patches', 'img_dir', 'val'))


def _cityscapes_tree(coco, root):
    """The generated scenes as a Cityscapes-form dataset and results folder."""
    gt = json.load(open(coco['gt']))
    gt['categories'] = [dict(id=1, name='person'), dict(id=3, name='car')]
    img_dir = osp.join(root, 'leftImg8bit', 'val')
    pred = osp.join(root, 'pred')
    os.makedirs(pred)
    coarse = json.load(open(coco['coarse']))
    for img in gt['images']:
        stem = f'city_{img["id"]:06d}_000019'
        src = osp.join(coco['img_dir'], img['file_name'])
        img['file_name'] = f'city/{stem}_leftImg8bit.png'
        os.makedirs(osp.join(img_dir, 'city'), exist_ok=True)
        shutil.copy(src, osp.join(img_dir, img['file_name']))
        lines = []
        for k, res in enumerate(r for r in coarse if r['image_id'] == img['id']):
            png = f'{stem}_leftImg8bit_{k}_person.png'
            cv2.imwrite(osp.join(pred, png), mask_utils.decode(res['segmentation']) * 255)
            lines.append(f'{png} 24 {res["score"]!r}\n')
        open(osp.join(pred, f'{stem}_leftImg8bit_pred.txt'), 'w').writelines(lines)
    gt_path = osp.join(root, 'gt.json')
    json.dump(gt, open(gt_path, 'w'))
    return gt_path, img_dir, pred


def _read_pred_dir(folder):
    out = {}
    for txt in sorted(glob.glob(osp.join(folder, '*_pred.txt'))):
        rows = []
        for line in open(txt):
            png, label, score = line.split()
            mask = mmcv.imread(osp.join(folder, png), 'unchanged') > 0
            rows.append((png, int(label), float(score), mask))
        out[osp.basename(txt)] = rows
    return out


def test_cityscapes_round_trip_is_lossless(coco, tmp_path):
    gt, _, pred = _cityscapes_tree(coco, str(tmp_path))
    run(['python', 'tools/cityscapes2json.py', pred, gt, str(tmp_path / 'c.json')],
        env=dict(PYTHONPATH=ROOT))
    run(['python', 'tools/json2cityscapes.py', str(tmp_path / 'c.json'), gt,
         str(tmp_path / 'back')], env=dict(PYTHONPATH=ROOT))
    a, b = _read_pred_dir(pred), _read_pred_dir(str(tmp_path / 'back'))
    assert a.keys() == b.keys()
    for k in a:
        assert len(a[k]) == len(b[k])
        for x, y in zip(a[k], b[k]):
            assert x[:3] == y[:3] and np.array_equal(x[3], y[3])


@pytest.mark.parametrize('problem', ['bad line', 'wrong size'])
def test_cityscapes_bad_input(coco, tmp_path, problem):
    gt, _, pred = _cityscapes_tree(coco, str(tmp_path))
    txt = sorted(glob.glob(osp.join(pred, '*_pred.txt')))[0]
    if problem == 'bad line':
        open(txt, 'a').write('only_two_fields.png 24\n')
        needle = osp.basename(txt)
    else:
        png = open(txt).readline().split()[0]
        cv2.imwrite(osp.join(pred, png), np.zeros((7, 9), np.uint8))
        needle = png
    out = tmp_path / 'c.json'
    proc = subprocess.run(['python', 'tools/cityscapes2json.py', pred, gt, str(out)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                          text=True)
    assert proc.returncode != 0 and needle in proc.stderr and not out.exists()


def test_inference_sh_cityscapes_end_to_end(coco, tmp_path):
    gt, img_dir, pred = _cityscapes_tree(coco, str(tmp_path))
    out = str(tmp_path / 'out')
    run(['sh', 'tools/inference.sh', TINY_CONFIG, 'none', pred, out],
        env=dict(IMG_DIR=img_dir, GT_JSON=gt, IOU_THRESH='0.55', PATCH_SIZE='32'))
    a, b = _read_pred_dir(pred), _read_pred_dir(osp.join(out, 'refined'))
    assert a.keys() == b.keys()
    for k in a:
        assert [x[:3] for x in a[k]] == [y[:3] for y in b[k]]


def _gtfine(gt_json, root):
    """gtFine/val/<city>/*_gtFine_instanceIds.png of a Cityscapes-form GT JSON (persons)."""
    gt = json.load(open(gt_json))
    for img in gt['images']:
        city, name = img['file_name'].split('/')
        ids = np.zeros((img['height'], img['width']), np.uint16)
        anns = [a for a in gt['annotations'] if a['image_id'] == img['id']]
        for k, a in enumerate(anns):
            ids[mask_utils.decode(a['segmentation']) > 0] = 24 * 1000 + k  # person
        folder = root / 'gtFine' / 'val' / city
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / name.replace('leftImg8bit.png', 'gtFine_instanceIds.png')), ids)
    return gt


def test_gtfine_converter_and_prepare_dataset_sh(coco, tmp_path):
    """gtFine instanceIds PNGs -> GT JSON, then the Cityscapes dataset builder on it."""
    gt_json, img_dir, pred = _cityscapes_tree(coco, str(tmp_path))
    gt = _gtfine(gt_json, tmp_path / 'cs')
    run(['python', 'tools/convert_datasets/cityscapes.py', str(tmp_path / 'cs'), '--split',
         'val', '--num-proc', '2'], env=dict(PYTHONPATH=ROOT))
    made = json.load(open(tmp_path / 'cs' / 'annotations' /
                          'instancesonly_filtered_gtFine_val.json'))
    assert [i['file_name'] for i in made['images']] == sorted(i['file_name']
                                                              for i in gt['images'])
    assert len(made['annotations']) == len(gt['annotations'])
    for ann in made['annotations']:
        assert ann['bbox'] == mask_utils.toBbox(ann['segmentation']).tolist()
        assert ann['area'] == mask_utils.area(ann['segmentation']) > 0
    assert made['categories'][0] == dict(id=1, name='person')
    ann_dir = tmp_path / 'cs' / 'annotations'
    out = str(tmp_path / 'prepared')
    run(['sh', 'tools/prepare_dataset.sh', pred, pred, out],
        env=dict(IMG_DIR_TRAIN=img_dir, IMG_DIR_VAL=img_dir, GT_JSON=str(ann_dir),
                 GT_JSON_TRAIN=str(ann_dir / 'instancesonly_filtered_gtFine_val.json'),
                 PATCH_SIZE='32', NUM_PROC='2'))
    assert os.listdir(osp.join(out, 'patches', 'img_dir', 'train'))
    assert os.listdir(osp.join(out, 'patches', 'img_dir', 'val'))


def test_eval_cityscapes_form_with_cityscapesscripts(coco, tmp_path):
    gt_json, _, pred = _cityscapes_tree(coco, str(tmp_path))
    gt = _gtfine(gt_json, tmp_path / 'cs')
    perfect = str(tmp_path / 'perfect')
    os.makedirs(perfect)
    for img in gt['images']:
        stem = osp.basename(img['file_name'])[:-len('_leftImg8bit.png')]
        lines = []
        for k, a in enumerate(x for x in gt['annotations'] if x['image_id'] == img['id']):
            png = f'{stem}_leftImg8bit_{k}_person.png'
            cv2.imwrite(osp.join(perfect, png), mask_utils.decode(a['segmentation']) * 255)
            lines.append(f'{png} 24 1.0\n')
        open(osp.join(perfect, f'{stem}_leftImg8bit_pred.txt'), 'w').writelines(lines)
    out = tmp_path / 'm.json'
    proc = run(['python', 'tools/eval.py', gt_json, pred, perfect, '--gtfine',
                str(tmp_path / 'cs' / 'gtFine' / 'val'), '--out', str(out)],
               env=dict(PYTHONPATH=ROOT))
    assert 'csAP' in proc.stdout
    m = json.load(open(out))
    # not 100: cityscapesScripts ignores regions under 100 px, some of these shapes are smaller
    assert m['perfect']['csAP'] > 85.0
    assert m['perfect']['AF'] == pytest.approx(100.0)
    assert m['pred']['csAP'] < m['perfect']['csAP'] and m['pred']['AF'] < m['perfect']['AF']


def test_inference_sh_bad_input_leaves_nothing(coco, tmp_path):
    gt, img_dir, pred = _cityscapes_tree(coco, str(tmp_path))
    txt = sorted(glob.glob(osp.join(pred, '*_pred.txt')))[0]
    open(txt, 'a').write('not_a_line\n')
    out = tmp_path / 'out'
    proc = subprocess.run(['sh', 'tools/inference.sh', TINY_CONFIG, 'none', pred, str(out)],
                          cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, IMG_DIR=img_dir, GT_JSON=gt))
    assert proc.returncode != 0
    assert osp.basename(txt) in proc.stderr
    assert not any(out.iterdir())


def test_bench_speed_reports_medians_of_runs(coco, tmp_path):
    """The benchmark runs on any COCO-form input (it asserts both paths give equal masks)."""
    out = tmp_path / 'speed.md'
    run(['python', 'tools/benchmarks/bench_speed.py', coco['gt'], coco['coarse'],
         coco['img_dir'], '--configs', TINY_CONFIG, '--repeat', '2', '--network-images', '2',
         '--out', str(out)])
    report = out.read_text()
    assert 'median (min-max) of 2 runs' in report
    speedup = re.search(r'\| speed-up \| ([\d.]+) \(([\d.]+)-([\d.]+)\)x \|', report)
    assert speedup and float(speedup[2]) <= float(speedup[1]) <= float(speedup[3]), report
    for network in ('as built', r'fused BN \(\+ NHWC on CPU\)', 'fused, bf16'):
        row = re.search(rf'\| hrnet18s_64_tiny.py \| {network} \| cpu \(\d+ threads\) \| '
                        r'([\d.]+) .* \| (\d+) .*\|(.*)\|$', report, re.M)
        assert row and float(row[1]) > 0 and int(row[2]) > 0, report
        # a speed-up against the network as built, for the other two
        assert bool(re.fullmatch(r' [\d.]+ \([\d.]+-[\d.]+\)x ', row[3])) == (network != 'as built')
    # the paper's breakdown: extraction, network, reassembly and their sum, in ms per image
    stages = re.search(r'^\| hrnet18s_64_tiny.py'
                       + r' \| ([\d.]+) \(([\d.]+)-([\d.]+)\)' * 4 + r' \|$', report, re.M)
    assert stages, report
    medians = [float(stages[k]) for k in (1, 4, 7, 10)]
    assert medians[1] > 0 and abs(sum(medians[:3]) - medians[3]) <= 0.5, report


def test_bench_eval_compares_bands_with_the_reference(coco, tmp_path):
    """The benchmark itself asserts equal bands and equal metrics; here: the report."""
    out = tmp_path / 'eval.md'
    run(['python', 'tools/benchmarks/bench_eval.py', coco['gt'], coco['coarse'], '--repeat', '2',
         '--out', str(out)])
    report = out.read_text()
    for row in ('Boundary IoU reference', 'bpr (box', 'reference bands, AF over all pairs', 'bpr'):
        assert re.search(rf'^\| {re.escape(row)}.*\| [\d.]+ \([\d.]+-[\d.]+\) \|$', report,
                         re.M), report
    assert len(re.findall(r'^\| speed-up \| [\d.]+ \([\d.]+-[\d.]+\)x \|$', report, re.M)) == 2


def test_bench_cityscapes_compares_conversions(tmp_path):
    """The benchmark asserts equal RLEs and PNGs both ways; here: the report."""
    out = tmp_path / 'cs.md'
    run(['python', 'tools/benchmarks/bench_cityscapes.py', '--images', '1', '--masks', '3',
         '--repeat', '2', '--out', str(out)])
    report = out.read_text()
    assert '3 instance PNGs' in report
    for row in ('read', 'write'):
        assert re.search(rf'^\| {row} .*\|' + r' [\d.]+ \([\d.]+-[\d.]+\) \|' * 2 +
                         r' [\d.]+ \([\d.]+-[\d.]+\)x \|$', report, re.M), report
    for stage in ('extraction', 'reassembly', 'reassembly, min_part 10'):
        assert re.search(rf'^\| {stage} \| [\d.]+ \([\d.]+-[\d.]+\) \|$', report, re.M), report


@pytest.mark.parametrize('amp, variants', [
    (None, ('NCHW', r'NHWC \(channels_last\)')), ('bf16', ('float32', 'bf16 autocast'))])
def test_bench_train_compares_variants(tmp_path, amp, variants):
    out = tmp_path / 'train.md'
    run(['python', 'tools/benchmarks/bench_train.py', '--configs', TINY_CONFIG, '--batch', '2',
         '--iters', '1', '--repeat', '2', '--out', str(out)] + (['--amp', amp] if amp else []))
    report = out.read_text()
    assert 'median (min-max) of 2 runs of 1 iterations' in report
    assert ('| precision |' in report) == bool(amp)
    for variant in variants + ('speed-up', ):
        row = re.search(rf'\| hrnet18s_64_tiny.py \| 2 \| {variant} \| ([\d.]+) '
                        r'\(([\d.]+)-([\d.]+)\)', report)
        assert row and 0 < float(row[2]) <= float(row[1]) <= float(row[3]), report
    assert re.search(rf'\| 2 \| {variants[0]} \| [\d.]+ \([\d.]+-[\d.]+\) \| [\d.]+ \|$',
                     report, re.M)


def test_bench_loader_times_every_step_and_the_loader(patches, tmp_path):
    out = tmp_path / 'loader.md'
    run(['python', 'tools/benchmarks/bench_loader.py', patches, '--config', TINY_CONFIG,
         '--patches', '12', '--batch', '4', '--workers', '0', '1', '--repeat', '2',
         '--out', str(out)])
    report = out.read_text()
    assert 'median (min-max) of 2 passes' in report
    steps = re.findall(r'^\| ([A-Za-z]\w*) \| ([\d.]+) \(([\d.]+)-([\d.]+)\) \|$', report,
                       re.M)
    names = [name for name, *_ in steps]
    assert names[:3] == ['LoadImageFromFile', 'LoadAnnotations', 'LoadCoarseMask'], report
    # a step of a few microseconds may round to 0.000 ms
    assert all(0 <= float(lo) <= float(mid) <= float(hi) for _, mid, lo, hi in steps), report
    total = re.search(r'\| \*\*all\*\* \| \*\*([\d.]+) ', report)
    assert float(total[1]) > 0
    assert float(total[1]) == pytest.approx(sum(float(mid) for _, mid, *_ in steps), rel=0.2)
    for workers in ('0', '1'):
        assert re.search(rf'^\| {workers} \| [\d,]+ \([\d,]+-[\d,]+\) \|$', report, re.M), report


def test_inference_coco_sh_passes_options_and_sampling(coco, tmp_path):
    """Options after the arguments reach the model (flip TTA), SAMPLING the patch boxes."""
    from bpr.apis import init_refiner
    from bpr.apis.coco import refine_coco_file
    from bpr.core import PatchConfig
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    out = str(tmp_path / 'flip.json')
    run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, ckpt, coco['coarse'], out,
         '--cfg-options', 'data.test.pipeline.2.flip=True', '--device', 'cpu'],
        env=dict(IMG_DIR=coco['img_dir'], GT_JSON=coco['gt'], PATCH_SIZE='32',
                 SAMPLING='grid'))
    expected = {}
    for flip, sampling in [(True, 'grid'), (False, 'grid'), (True, 'nms')]:
        model = init_refiner(TINY_CONFIG, ckpt, 'cpu',
                             cfg_options={'data.test.pipeline.2.flip': flip})
        expected[flip, sampling] = refine_coco_file(
            model, coco['coarse'], str(tmp_path / 'x.json'), coco['gt'], coco['img_dir'],
            PatchConfig(32, 0, 0.25, sampling), progress=False)
    got = json.load(open(out))
    assert got == expected[True, 'grid']
    assert got != expected[False, 'grid'] and got != expected[True, 'nms']


def test_bench_pipeline_reports_time_and_network_share(tmp_path):
    out = tmp_path / 'pipeline.md'
    run(['python', 'tools/benchmarks/bench_pipeline.py', '--images', '2', '--instances', '3',
         '--size', '96', '160', '--workers', '0', '2', '--repeat', '1', '--config',
         TINY_CONFIG, '--checkpoint', 'none', '--device', 'cpu', '--iou-thresh', '0.4',
         '--flip', '--paste', 'auto', 'thread', '--out', str(out)])
    report = out.read_text()
    assert '2 generated 160x96 images' in report and 'NMS IoU 0.4, flip TTA' in report
    share = r'(\d+) \(\d+-\d+\) %'
    rows = re.findall(rf'^\| (\d) \| ([a-z ]+) \| ([\d.]+) \([\d.]+-[\d.]+\) \| {share} \| '
                      rf'([\d.]+) \([\d.]+-[\d.]+\) \| {share} \| (\d+) \(\d+-\d+\) \| '
                      r'(\d+) \(\d+-\d+\) \|$', report, re.M)
    # without workers 'auto' is the thread: three runs, not four
    assert [r[:2] for r in rows] == [('0', 'thread'), ('2', 'a process'), ('2', 'thread')], report
    for row in rows:
        assert float(row[2]) > 0 and float(row[4]) > 0, report
        assert 0 < int(row[3]) <= 100 and 0 < int(row[5]) <= 100, report
        # with loaders, starting them takes a millisecond or more before the first network
        assert int(row[6]) >= (1 if row[0] != '0' else 0) and int(row[7]) >= 0, report
    assert re.search(r'^\|' + r' [\d.]+ \([\d.]+-[\d.]+\) \|' * 4 + '$', report, re.M), report


def test_bench_pipeline_network_wait_times_the_cpu_side(tmp_path):
    out = tmp_path / 'pipeline.md'
    run(['python', 'tools/benchmarks/bench_pipeline.py', '--images', '2', '--instances', '3',
         '--size', '96', '160', '--workers', '0', '--repeat', '1', '--config', TINY_CONFIG,
         '--checkpoint', 'none', '--device', 'cpu', '--network-ms', '40', '--out', str(out)])
    report = out.read_text()
    assert 'the network replaced by a 40-ms wait per image' in report
    row = re.search(r'^\| 0 \| thread \| ([\d.]+) \([^|]*\| [^|]* % \| ([\d.]+) \(', report, re.M)
    stages = re.search(r'^\| ([\d.]+) \([\d.-]+\) \| ([\d.]+) \(', report, re.M)
    # in flow: the wait and, without workers, reading and extracting the next image
    assert row and float(row[1]) >= 40 and 40 <= float(row[2]) < 1000, report
    assert stages and 40 <= float(stages[2]) < 100, report


def test_bench_paste_times_the_network_beside_pasting(tmp_path):
    out = tmp_path / 'paste.md'
    run(['python', 'tools/benchmarks/bench_paste.py', '--instances', '3', '--repeat', '3',
         '--config', TINY_CONFIG, '--checkpoint', 'none', '--device', 'cpu', '--network-ms',
         '5', '--out', str(out)])
    report = out.read_text()
    assert 'small torch calls taking 5 ms alone' in report and 'of 3 runs' in report, report
    rows = re.findall(r'^\| (nothing|a thread|a process) \| ([\d.]+) \([\d.]+-[\d.]+\) \| '
                      r'([\d.]+) \|$', report, re.M)
    assert [r[0] for r in rows] == ['nothing', 'a thread', 'a process'], report
    assert rows[0][2] == '1.00' and all(float(r[1]) > 0 for r in rows), report


def test_bench_batch_times_each_batch_size(tmp_path):
    out = tmp_path / 'batch.md'
    run(['python', 'tools/benchmarks/bench_batch.py', '--batch', '8', '4', '--patches', '12',
         '--repeat', '2', '--config', TINY_CONFIG, '--checkpoint', 'none', '--device', 'cpu',
         '--patch-size', '32', '--threads', '1', '--out', str(out)])
    report = out.read_text()
    assert 'CPU (1 threads)' in report and '12 random 32-px patches' in report, report
    rows = re.findall(r'^\| (\d+) \| ([\d.]+) \([\d.]+-[\d.]+\) \| ([\d.]+)× \(', report, re.M)
    assert [r[0] for r in rows] == ['8', '4'] and rows[0][2] == '1.00', report
    assert all(float(r[1]) > 0 for r in rows), report


def test_gpu_script_refuses_an_unknown_part_before_any_work(tmp_path):
    proc = subprocess.run(['bash', 'tools/benchmarks/gpu.sh', str(tmp_path / 'out'), 'speed',
                           'sped'], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown part 'sped'" in proc.stderr, proc.stderr
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('name,value,message', [
    ('CPU_PHOTOS', 'some', 'CPU_PHOTOS is all or subset, not some'),
    ('CPU_DRAWS', 'grid14', 'CPU_DRAWS is varied or grid28, not grid14'),
    ('DRAW_OFFSET', '-1', 'DRAW_OFFSET is a whole number, not -1')])
def test_duts_cpu_step_checks_its_options_before_any_work(tmp_path, name, value, message):
    # WORK holds no data step's output: a check made after the first split would fail there
    env = dict(os.environ, DATA=str(tmp_path / 'data'), WORK=str(tmp_path / 'work'),
               **{name: value})
    proc = subprocess.run(['bash', 'tools/benchmarks/duts.sh', 'cpu'], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == message, proc.stderr
    assert not any((tmp_path / 'work').iterdir())


def test_bench_ties_compares_both_tie_breaks(coco, tmp_path):
    out = tmp_path / 'ties.md'
    run(['python', 'tools/benchmarks/bench_ties.py', coco['gt'], coco['coarse'],
         coco['img_dir'], '--config', TINY_CONFIG, '--checkpoint', 'none', '--repeat', '2',
         '--out', str(out)])
    report = out.read_text()
    rows = {m[1]: int(m[2]) for m in re.finditer(
        r'^\| (nms|nms_stable) \| (\d+) \| [\d.]+ \|' + r' [\d.]+ \([\d.]+-[\d.]+\) \|' * 4 + '$',
        report, re.M)}
    assert set(rows) == {'nms', 'nms_stable'} and all(rows.values()), report
    assert 'median (min-max) of 2 runs' in report and 'NMS IoU 0.25, no flip' in report


def test_label_edges_tells_loose_from_tight_labels(tmp_path):
    """A bright square labelled exactly, one pixel too large and one pixel too small."""
    img = np.full((100, 100, 3), 40, np.uint8)
    img[20:60, 20:60] = 220
    cv2.imwrite(str(tmp_path / 'a.png'), cv2.GaussianBlur(img, (7, 7), 1.2))
    square = np.zeros((100, 100), np.uint8)
    square[20:60, 20:60] = 1
    kernel = np.ones((3, 3), np.uint8)
    args = []
    for name, mask in (('exact', square), ('loose', cv2.dilate(square, kernel)),
                       ('tight', cv2.erode(square, kernel))):
        rle = mask_utils.encode(np.asfortranarray(mask))
        rle['counts'] = rle['counts'].decode()
        gt = dict(images=[dict(id=1, file_name='a.png', height=100, width=100)],
                  categories=[dict(id=1, name='x')],
                  annotations=[dict(id=1, image_id=1, category_id=1, iscrowd=0,
                                    area=int(mask.sum()), segmentation=rle)])
        (tmp_path / f'{name}.json').write_text(json.dumps(gt))
        args += [str(tmp_path / f'{name}.json'), str(tmp_path)]
    out = run(['python', 'tools/benchmarks/label_edges.py', *args, '--min-area', '100']).stdout
    ratio = {name: float(re.search(rf'{name}\.json \| 1 \|.* ([\d.]+) \|$', out, re.M)[1])
             for name in ('exact', 'loose', 'tight')}
    assert ratio['tight'] < 0.8 < ratio['exact'] < 1.2 < ratio['loose'], out


def test_outline_polygons_counts_vertices_and_simplifies(tmp_path):
    """A square is a 4-vertex polygon, a disc needs many; ``--simplify`` turns a square with
    a one-pixel notch back into the square, keeping every result, its order and fields."""
    def rle(mask):
        out = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        out['counts'] = out['counts'].decode()
        return out

    square = np.zeros((100, 100), np.uint8)
    square[20:80, 20:80] = 1
    disc = cv2.circle(np.zeros((100, 100), np.uint8), (50, 50), 30, 1, -1)
    for name, mask in (('square', square), ('disc', disc)):
        gt = dict(images=[dict(id=1, file_name='a.png', height=100, width=100)],
                  categories=[dict(id=1, name='x')],
                  annotations=[dict(id=1, image_id=1, category_id=1, iscrowd=0,
                                    area=int(mask.sum()), segmentation=rle(mask))])
        (tmp_path / f'{name}.json').write_text(json.dumps(gt))
    out = run(['python', 'tools/benchmarks/outline_polygons.py', str(tmp_path / 'square.json'),
               str(tmp_path / 'disc.json'), '--eps', '1', '--min-area', '100']).stdout
    rows = {name: [float(v) for v in re.search(rf'{name}\.json \| 1 \| 1 \| (.*) \|$', out,
                                               re.M)[1].split(' | ')]
            for name in ('square', 'disc')}
    assert rows['square'][1:] == [1.0, 1.0], out  # Boundary IoU with itself, share >= 0.95
    assert rows['square'][0] * 2.36 == pytest.approx(4, abs=0.05), out  # 4 per 236 px
    assert rows['disc'][0] > 3 * rows['square'][0], out

    notched = square.copy()
    notched[20, 50] = 0
    results = [dict(image_id=1, category_id=1, score=0.3, segmentation=rle(notched), tag='a'),
               dict(image_id=1, category_id=1, score=0.9, segmentation=rle(disc), tag='b')]
    (tmp_path / 'res.json').write_text(json.dumps(results))
    run(['python', 'tools/benchmarks/outline_polygons.py', '--simplify',
         str(tmp_path / 'res.json'), str(tmp_path / 'poly'), '--eps', '1'])
    out = json.loads((tmp_path / 'poly1.json').read_text())
    assert [(r['tag'], r['score']) for r in out] == [('a', 0.3), ('b', 0.9)]
    assert (mask_utils.decode(out[0]['segmentation']) == square).all()
    assert abs(int(mask_utils.decode(out[1]['segmentation']).sum()) - int(disc.sum())) < 60


def test_error_bands_places_each_error_by_its_distance(tmp_path):
    """A square segmented exactly, a pixel too large all around, and with a hole at its
    centre: the added ring lies at distance 1, the hole beyond 10 px, and correcting the
    errors of the right distance gives the exact result back."""
    square = np.zeros((100, 100), np.uint8)
    square[30:70, 30:70] = 1
    holed = square.copy()
    holed[47:53, 47:53] = 0

    def rle(mask):
        out = mask_utils.encode(np.asfortranarray(mask))
        out['counts'] = out['counts'].decode()
        return out

    gt = dict(images=[dict(id=1, file_name='a.png', height=100, width=100)],
              categories=[dict(id=1, name='x')],
              annotations=[dict(id=1, image_id=1, category_id=1, iscrowd=0, area=1600,
                                bbox=[30, 30, 40, 40], segmentation=rle(square))])
    (tmp_path / 'gt.json').write_text(json.dumps(gt))
    files = []
    for name, mask in (('exact', square), ('loose', cv2.dilate(square, np.ones((3, 3)))),
                       ('holed', holed)):
        (tmp_path / f'{name}.json').write_text(json.dumps(
            [dict(image_id=1, category_id=1, score=0.9, segmentation=rle(mask))]))
        files.append(str(tmp_path / f'{name}.json'))
    out = run(['python', 'tools/benchmarks/error_bands.py', str(tmp_path / 'gt.json'),
               *files]).stdout
    assert re.search(r'^\| exact\.json' + r' \| 100\.00' * 11 + r' \|$', out, re.M), out
    assert re.search(r'^\| loose\.json( \| [\d.]+){9} \| 0\.00 \| [\d.]+ \|$', out, re.M), out
    zero = r' \| 0\.0 / 0\.0'
    assert re.search(r'^\| exact\.json \| 1' + zero * 6 + r' \| 0\.0 \| 0\.0 \|$', out, re.M)
    ring = 42 * 42 - 40 * 40
    assert re.search(rf'^\| loose\.json \| 1 \| {ring}\.0 / 0\.0' + zero * 5 +
                     rf' \| {ring}\.0 \| 0\.0 \|$', out, re.M), out
    assert re.search(r'^\| holed\.json \| 1' + zero * 5 + r' \| 0\.0 / 36\.0 \| 0\.0 \| 36\.0 \|$',
                     out, re.M), out
    # corrected within 1 px / beyond 1 px
    assert re.search(r'^\| loose\.json \| [\d.]+ \| 100\.00 \| [\d.]+ \|$', out, re.M), out
    assert re.search(r'^\| holed\.json \| [\d.]+ \| [\d.]+ \| 100\.00 \|$', out, re.M), out


def test_rescale_set_doubles_images_and_masks(tmp_path):
    """Every 2nd image by file name, twice the size, its masks twice as wide and high."""
    src = tmp_path / 'src'
    src.mkdir()
    images, anns = [], []
    for k, name in enumerate(('b.png', 'a.png', 'c.png')):
        cv2.imwrite(str(src / name), np.full((40, 60, 3), 50 * k, np.uint8))
        mask = np.zeros((40, 60), np.uint8)
        mask[10:30, 5 + k:25 + k] = 1
        rle = mask_utils.encode(np.asfortranarray(mask))
        rle['counts'] = rle['counts'].decode()
        images.append(dict(id=k + 1, file_name=name, height=40, width=60))
        anns.append(dict(id=k + 1, image_id=k + 1, category_id=1, iscrowd=0, area=400,
                         bbox=[5 + k, 10, 20, 20], segmentation=rle))
    gt = dict(images=images, annotations=anns, categories=[dict(id=1, name='x')])
    (tmp_path / 'gt.json').write_text(json.dumps(gt))
    out = tmp_path / 'x2'
    run(['python', 'tools/benchmarks/rescale_set.py', str(tmp_path / 'gt.json'), str(src),
         str(out), '--factor', '2', '--every', '2'])
    scaled = json.loads((out / 'gt.json').read_text())
    assert [img['file_name'] for img in scaled['images']] == ['a.png', 'c.png']
    assert all((img['height'], img['width']) == (80, 120) for img in scaled['images'])
    assert cv2.imread(str(out / 'images' / 'a.png')).shape == (80, 120, 3)
    assert [a['id'] for a in scaled['annotations']] == [2, 3]
    for ann, k in zip(scaled['annotations'], (1, 2)):
        assert ann['area'] == 1600 and ann['bbox'] == [10.0 + 2 * k, 20.0, 40.0, 40.0]
        mask = mask_utils.decode(ann['segmentation'])
        assert mask.shape == (80, 120) and mask.sum() == 1600
    # the input images are never written over, nor anything outside OUT_DIR/images
    (tmp_path / 'z').mkdir()
    os.symlink(src, tmp_path / 'z' / 'images')
    for bad_out, names in ((tmp_path / 'z', {}), (tmp_path / 'y', {1: '../escaped.png'})):
        bad = dict(gt, images=[dict(img, file_name=names.get(img['id'], img['file_name']))
                               for img in images])
        (tmp_path / 'bad.json').write_text(json.dumps(bad))
        if names:
            shutil.copy(src / 'b.png', tmp_path / 'escaped.png')
        before = {p.name: p.read_bytes() for p in src.iterdir()}
        proc = subprocess.run(['python', 'tools/benchmarks/rescale_set.py',
                               str(tmp_path / 'bad.json'), str(src), str(bad_out)], cwd=ROOT,
                              capture_output=True, text=True)
        assert proc.returncode == 1 and proc.stderr.count('\n') == 1, proc.stderr
        assert ('input image folder' if not names else 'leads outside') in proc.stderr
        assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_compose_patch_size_takes_each_instance_from_its_size(tmp_path):
    """Coarse boxes of 30, 60, 48 and 120 px, runs at 8 and 16 px, divisor 4: targets 7.5,
    15, 12 (a tie: the smaller) and 30 px."""
    coarse = []
    for side in (30, 60, 48, 120):
        mask = np.zeros((130, 130), np.uint8)
        mask[2:2 + side, 5:5 + side // 2] = 1
        rle = mask_utils.encode(np.asfortranarray(mask))
        rle['counts'] = rle['counts'].decode()
        coarse.append(dict(image_id=1, category_id=1, score=0.5, segmentation=rle))
    (tmp_path / 'coarse.json').write_text(json.dumps(coarse))
    runs = []
    for size in (8, 16):
        results = [dict(c, run=size) for c in coarse]
        (tmp_path / f'r{size}.json').write_text(json.dumps(results))
        runs.append(f'{size}={tmp_path / f"r{size}.json"}')
    out = run(['python', 'tools/benchmarks/compose_patch_size.py', str(tmp_path / 'coarse.json'),
               str(tmp_path / 'k'), *runs, '--divisors', '4']).stdout
    assert 'side / 4: 8 px: 2, 16 px: 2' in out, out
    composed = json.loads((tmp_path / 'k4.json').read_text())
    assert [r['run'] for r in composed] == [8, 16, 8, 16]
    assert [r['segmentation'] for r in composed] == [c['segmentation'] for c in coarse]
    # an output that would overwrite an input (prefix r, divisor 8: r8.json) is refused
    before = (tmp_path / 'r8.json').read_text()
    proc = subprocess.run(['python', 'tools/benchmarks/compose_patch_size.py',
                           str(tmp_path / 'coarse.json'), str(tmp_path / 'r'), *runs,
                           '--divisors', '8'], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and 'overwrite the input' in proc.stderr, proc.stderr
    assert (tmp_path / 'r8.json').read_text() == before


def test_ensemble_blends_the_two_models_patch_probabilities(coco, tmp_path):
    """ensemble.py's results at each weight are those of the patch probabilities
    (1 - w) * first + w * second, pasted as refining pastes them: at 0 the first model's, at
    1 the second's (with the first's settings)."""
    from bpr.apis import init_refiner
    from bpr.apis.inference import for_model, run_groups
    from bpr.core import PatchConfig, decode, extract_image, reassemble_image
    ckpts = [random_checkpoint(str(tmp_path / f'm{seed}.pth'), seed) for seed in (0, 1)]
    out = run(['python', 'tools/benchmarks/ensemble.py', coco['gt'], coco['coarse'],
               coco['img_dir'], str(tmp_path / 'ens'), '--first', ckpts[0], '--second',
               ckpts[1], '--weights', '0', '1', '0.5', '--config', TINY_CONFIG, '--device',
               'cpu']).stdout
    assert 'second model 0.5: ens_w0.5.json' in out, out
    models = [init_refiner(TINY_CONFIG, c, 'cpu') for c in ckpts]
    cfg = for_model(PatchConfig(), models[0])
    gt, coarse = json.load(open(coco['gt'])), json.load(open(coco['coarse']))
    blended = {w: json.loads((tmp_path / f'ens_w{w}.json').read_text()) for w in ('0', '1', '0.5')}
    for results in blended.values():  # every instance, in order, other fields intact
        assert [dict(r, segmentation=None) for r in results] == \
            [dict(r, segmentation=None) for r in coarse]
    changed = set()
    for info in gt['images']:
        index = [i for i, r in enumerate(coarse) if r['image_id'] == info['id']]
        img = cv2.imread(osp.join(coco['img_dir'], info['file_name']))
        masks = [decode(coarse[i]['segmentation'], info['height'], info['width'])
                 for i in index]
        instances, groups = extract_image(img, masks, cfg)
        probs = [run_groups(m, groups) for m in models]
        for w in blended:
            mix = {k: (1 - float(w)) * probs[0][k] + float(w) * probs[1][k] for k in groups}
            expected = reassemble_image(masks, instances, mix, cfg.padding, cfg.min_part)
            got = [decode(blended[w][i]['segmentation'], info['height'], info['width'])
                   for i in index]
            assert all(np.array_equal(g, e) for g, e in zip(got, expected)), (w, info['id'])
            changed |= {(w, i) for i, e, m in zip(index, expected, masks)
                        if not np.array_equal(e, m)}
    # the two random networks refine differently, so the weights are seen to matter
    assert blended['0'] != blended['1']
    assert changed
    proc = subprocess.run(['python', 'tools/benchmarks/ensemble.py', coco['gt'], coco['coarse'],
                           coco['img_dir'], str(tmp_path / 'bad'), '--second', ckpts[1],
                           '--weights', '1.5'], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and 'each in [0, 1]' in proc.stderr, proc.stderr


def test_checkpoint_test_settings_are_the_defaults(coco, tmp_path):
    """A checkpoint published with --iou-thresh, --patch-size, --patch-ratio and --flip
    refines with them unless the caller says otherwise (API arguments, FLIP / IOU_THRESH /
    PATCH_SIZE / PATCH_RATIO of inference_coco.sh)."""
    from bpr.apis import init_refiner
    from bpr.apis.coco import refine_coco_file
    from bpr.apis.inference import for_model, patch_views
    from bpr.core import PatchConfig
    from bpr.core.io import InputError
    ckpt = str(tmp_path / 'own.pth')
    run(['python', 'tools/publish_model.py', random_checkpoint(str(tmp_path / 'w.pth')), ckpt,
         '--iou-thresh', '0.55', '--flip', '--patch-size', '24', '--min-part', '7',
         '--patch-ratio', '0.75'])
    model = init_refiner(TINY_CONFIG, ckpt, 'cpu')
    assert (model.iou_thresh, model.min_size, model.patch_size, model.min_part,
            model.patch_ratio) == (0.55, 0, 24, 7, 0.75)
    assert for_model(PatchConfig(), model).min_part == 7
    assert for_model(PatchConfig(min_part=0), model).min_part == 0
    assert [d for d, _ in patch_views(model.cfg).flips] == [None, 'horizontal']
    for off in (init_refiner(TINY_CONFIG, ckpt, 'cpu', flip=False),
                init_refiner(TINY_CONFIG, ckpt, 'cpu',
                             cfg_options={'data.test.pipeline.2.flip': False})):
        assert [d for d, _ in patch_views(off.cfg).flips] == [None]
    plain = init_refiner(TINY_CONFIG, 'none', 'cpu')
    assert (plain.iou_thresh, plain.patch_size) == (0.25, 64)
    # republished with --no-flip: the other settings kept, flip off
    off_ckpt = str(tmp_path / 'off.pth')
    run(['python', 'tools/publish_model.py', ckpt, off_ckpt, '--no-flip'])
    off = init_refiner(TINY_CONFIG, off_ckpt, 'cpu')
    assert (off.iou_thresh, off.patch_size) == (0.55, 24)
    assert [d for d, _ in patch_views(off.cfg).flips] == [None]

    def expected(flip, iou_thresh, patch_size=24, patch_ratio=None):
        m = init_refiner(TINY_CONFIG, ckpt, 'cpu', flip=flip)
        return refine_coco_file(m, coco['coarse'], str(tmp_path / 'x.json'), coco['gt'],
                                coco['img_dir'], PatchConfig(patch_size, 0, iou_thresh,
                                                             patch_ratio=patch_ratio),
                                progress=False)

    env = dict(IMG_DIR=coco['img_dir'], GT_JSON=coco['gt'])
    outs = {}
    for name, extra in [('own', {}), ('off', dict(FLIP='0', IOU_THRESH='0.25', PATCH_SIZE='32',
                                                  PATCH_RATIO='0'))]:
        outs[name] = str(tmp_path / f'{name}.json')
        run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, ckpt, coco['coarse'], outs[name],
             '--device', 'cpu'], env=dict(env, **extra))
    own, off = (json.load(open(outs[k])) for k in ('own', 'off'))
    assert own == expected(True, 0.55) and off == expected(False, 0.25, 32, 0) and own != off
    assert own != expected(True, 0.25) and own != expected(False, 0.55)
    assert own != expected(True, 0.55, 32) and own != expected(True, 0.55, 24, 0)
    proc = subprocess.run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, ckpt, coco['coarse'],
                           str(tmp_path / 'bad.json')], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, FLIP='yes', **env))
    assert proc.returncode == 2 and proc.stderr.strip() == 'error: FLIP=yes: expected 1 or 0'
    proc = subprocess.run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, ckpt, coco['coarse'],
                           str(tmp_path / 'bad.json')], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, MIN_PART='-3', **env))
    assert proc.returncode == 2 and "argument --min-part: '-3': expected an integer >= 0" in \
        proc.stderr, proc.stderr
    # a checkpoint whose meta holds a setting out of range: one line naming it, no output
    import torch
    bad = str(tmp_path / 'bad_meta.pth')
    saved = torch.load(ckpt, weights_only=True)
    torch.save(dict(saved, meta=dict(saved['meta'], iou_thresh=5)), bad)
    with pytest.raises(InputError, match='iou_thresh 5'):
        init_refiner(TINY_CONFIG, bad, 'cpu')
    proc = subprocess.run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, bad, coco['coarse'],
                           str(tmp_path / 'bad.json')], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, **env))
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [(
        f'error: {bad}: invalid test setting in its meta: iou_thresh 5 (expected a number in '
        '(0, 1])')], proc.stderr
    torch.save(dict(saved, meta=dict(saved['meta'], patch_size=1.5)), bad)
    with pytest.raises(InputError, match=r'patch_size 1\.5 \(expected an integer >= 2\)'):
        init_refiner(TINY_CONFIG, bad, 'cpu')
    for opt, value, problem in [('--iou-thresh', '1.5', "'1.5': expected a number in (0, 1]"),
                                ('--patch-size', '1', "'1': expected an integer >= 2"),
                                ('--min-size', '-1', "'-1': expected an integer >= 0"),
                                ('--min-part', '0.5', "'0.5': expected an integer >= 0"),
                                ('--patch-ratio', '-1', "'-1': expected a number in [0, 1]")]:
        proc = subprocess.run(['python', 'tools/publish_model.py', ckpt,
                               str(tmp_path / 'x.pth'), opt, value], cwd=ROOT,
                              capture_output=True, text=True)
        assert proc.returncode == 2 and f'argument {opt}: {problem}' in proc.stderr
    assert not (tmp_path / 'bad.json').exists() and not (tmp_path / 'x.pth').exists()


def test_publish_model_averages_several_runs(tmp_path):
    """Several IN_FILEs: their uniform average (a soup), then WiSE-FT with --base."""
    import torch
    start, run1, run2 = (random_checkpoint(str(tmp_path / f'{n}.pth'), seed=i)
                         for i, n in enumerate(('start', 'run1', 'run2')))
    out = tmp_path / 'soup.pth'
    run(['python', 'tools/publish_model.py', run1, run2, str(out), '--base', start,
         '--alpha', '0.5'])
    s0, s1, s2 = (torch.load(p, weights_only=True)['state_dict'] for p in (start, run1, run2))
    pub = torch.load(str(out), weights_only=True)
    assert pub['meta']['averaged'] == ['run1.pth', 'run2.pth']
    assert pub['meta']['interpolated'] == dict(base='start.pth', alpha=0.5)
    key = 'backbone.conv1.weight'
    assert not torch.equal(s1[key], s2[key])
    assert torch.allclose(pub['state_dict'][key], 0.5 * s0[key] + 0.25 * (s1[key] + s2[key]),
                          atol=1e-6)
    from bpr.apis import init_refiner
    init_refiner(TINY_CONFIG, str(out), device='cpu')
    # a run of another network among them: one line naming it, nothing written
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={key: s1[key][:1]}), str(other))
    proc = subprocess.run(['python', 'tools/publish_model.py', run1, str(other),
                           str(tmp_path / 'x.pth')], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        f'error: {other}: not the same network as {run1}'], proc.stderr
    assert not (tmp_path / 'x.pth').exists()


def test_publish_model_fp16_min_size_and_weight_average(tmp_path):
    import torch
    a = random_checkpoint(str(tmp_path / 'a.pth'), seed=0)
    b = random_checkpoint(str(tmp_path / 'b.pth'), seed=1)
    out = tmp_path / 'out.pth'
    run(['python', 'tools/publish_model.py', b, str(out), '--fp16', '--min-size', '96',
         '--base', a, '--alpha', '0.25'])
    sa, sb = (torch.load(p, weights_only=True)['state_dict'] for p in (a, b))
    pub = torch.load(str(out), weights_only=True)
    assert pub['meta']['min_size'] == 96
    assert pub['meta']['interpolated'] == dict(base='a.pth', alpha=0.25)
    key = 'backbone.conv1.weight'
    assert pub['state_dict'][key].dtype == torch.float16 and not torch.equal(sa[key], sb[key])
    assert torch.allclose(pub['state_dict'][key].float(), 0.75 * sa[key] + 0.25 * sb[key],
                          atol=1e-3)
    counter = 'backbone.bn1.num_batches_tracked'
    assert torch.equal(pub['state_dict'][counter], sb[counter])
    # the averaged checkpoint loads strictly for inference
    from bpr.apis import init_refiner
    assert init_refiner(TINY_CONFIG, str(out), device='cpu').min_size == 96
    # republished with one more test setting: the same weights, the rest of the meta kept
    again = tmp_path / 'again.pth'
    run(['python', 'tools/publish_model.py', str(out), str(again), '--patch-size', '40'])
    rep = torch.load(str(again), weights_only=True)
    assert {k: v for k, v in rep['meta'].items() if k != 'patch_size'} == pub['meta']
    assert rep['meta']['patch_size'] == 40 and torch.equal(rep['state_dict'][key],
                                                           pub['state_dict'][key])
    # the training config kept in the meta names no folder of the training machine
    ckpt = torch.load(b, weights_only=True)
    ckpt['meta'] = dict(config="data_root = '/train/box/patches/'\nmodel = dict(type='M', "
                               "teachers=[dict(checkpoint='/train/box/base.pth')])\n"
                               "data = dict(train=dict(data_root='/train/box/patches/'))\n"
                               "load_from = '/train/box/start.pth'\nwork_dir = 'work_dirs/x'\n")
    torch.save(ckpt, str(tmp_path / 'run.pth'))
    run(['python', 'tools/publish_model.py', str(tmp_path / 'run.pth'), str(tmp_path / 'rel.pth')])
    assert torch.load(str(tmp_path / 'rel.pth'), weights_only=True)['meta']['config'] == (
        "data_root = 'patches'\nmodel = dict(type='M', teachers=[dict(checkpoint='base.pth')])\n"
        "data = dict(train=dict(data_root='patches'))\n"
        "load_from = 'start.pth'\nwork_dir = 'work_dirs/x'\n")
    # two different networks: one line naming the base
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={key: sa[key][:1]}), str(other))
    proc = subprocess.run(['python', 'tools/publish_model.py', b, str(tmp_path / 'x.pth'),
                           '--base', str(other)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        f'error: {other}: not the same network as the fine-tuned checkpoint'], proc.stderr
    proc = subprocess.run(['python', 'tools/publish_model.py', b, str(tmp_path / 'x.pth'),
                           '--base', a, '--alpha', '1.5'], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and '--alpha must be in [0, 1], got 1.5' in proc.stderr
    assert not (tmp_path / 'x.pth').exists()
