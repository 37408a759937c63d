"""Safe by default: checkpoints run no code, outputs never overwrite inputs or leave their
folder, refusals are one line, interrupted runs leave nothing."""
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import torch

from bpr.apis import init_refiner
from bpr.apis.inference import check_device
from bpr.core.checkpoint import UNSAFE_ENV, load_file
from bpr.core.io import InputError, check_output, dump_json
from helpers import ROOT, TINY_CONFIG, random_checkpoint


class Payload:
    """Unpickling this calls ``os.mkdir(path)``: a stand-in for any code a pickle can run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path, )


def _malicious(tmp_path, hidden: bool):
    """A checkpoint whose unpickling creates ``marker``; ``hidden``: inside the ``meta`` of a
    valid checkpoint of the tiny config."""
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / ('hidden.pth' if hidden else 'payload.pth'))
    if hidden:
        ckpt = torch.load(random_checkpoint(str(tmp_path / 'valid.pth')), weights_only=True)
        ckpt['meta'] = dict(CLASSES=('background', 'foreground'), note=Payload(marker))
    else:
        ckpt = Payload(marker)
    torch.save(ckpt, path)
    return path, marker


def _tool(args, env=None, **kw):
    return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT, **(env or {})), **kw)


@pytest.mark.parametrize('hidden', [False, True])
def test_malicious_checkpoint_runs_no_code(coco, tmp_path, hidden):
    path, marker = _malicious(tmp_path, hidden)
    # the Python API
    with pytest.raises(InputError, match=r'refused, loading it would call (posix|os)\.mkdir'):
        init_refiner(TINY_CONFIG, path, 'cpu')
    assert not osp.exists(marker)
    # the CLI: one line, nothing written
    out = tmp_path / 'out' / 'refined.json'
    proc = _tool(['tools/refine_coco.py', TINY_CONFIG, path, coco['coarse'], str(out),
                  '--img-dir', coco['img_dir'], '--gt-json', coco['gt'], '--device', 'cpu'])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and 'refused' in lines[0], proc.stderr
    assert path in lines[0] and UNSAFE_ENV in lines[0]
    assert not osp.exists(marker) and not out.exists()
    # stock mmcv's loader, in a process that imported bpr
    code = ('import bpr; from mmcv.runner import CheckpointLoader\n'
            'try:\n    CheckpointLoader.load_checkpoint(%r)\nexcept Exception as e:\n'
            '    print(type(e).__name__)' % path)
    proc = _tool(['-c', code])
    assert proc.returncode == 0 and proc.stdout.strip().endswith('\nInputError'), proc.stderr
    assert not osp.exists(marker)
    # the explicit opt-in loads it, payload included: the tests above can fail
    os.environ[UNSAFE_ENV] = '1'
    try:
        load_file(path)
    finally:
        del os.environ[UNSAFE_ENV]
    assert osp.isdir(marker)


def _rename_numpy_core(path):
    """Rewrite a checkpoint as NumPy 1.x pickles it (``numpy.core`` instead of ``_core``)."""
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i)) for i in z.infolist()]
    with zipfile.ZipFile(path, 'w') as z:
        for info, data in items:
            if info.filename.endswith('data.pkl'):
                data = data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
            z.writestr(info, data)


def test_numpy_data_in_meta_is_allowed_under_both_numpy_names(tmp_path):
    path = random_checkpoint(str(tmp_path / 'w.pth'))
    ckpt = torch.load(path, weights_only=True)
    ckpt['meta'] = dict(seed=np.int64(7), best=np.float64(0.5), arr=np.arange(3),
                        dtype=np.dtype('float32'))
    torch.save(ckpt, path)
    _rename_numpy_core(path)
    meta = load_file(path)['meta']
    assert meta['seed'] == 7 and meta['best'] == 0.5 and meta['arr'].tolist() == [0, 1, 2]
    init_refiner(TINY_CONFIG, path, 'cpu')


def test_bad_checkpoints_are_one_line(coco, tmp_path):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    text = tmp_path / 'text.pth'
    text.write_text('not a checkpoint\n')
    other = str(tmp_path / 'other.pth')
    torch.save(dict(state_dict={f'layer{i}.weight': torch.zeros(2) for i in range(40)}), other)
    cut = tmp_path / 'cut.pth'  # an interrupted download
    cut.write_bytes(open(random_checkpoint(str(tmp_path / 'whole.pth')), 'rb').read()[:4096])
    cases = [(str(empty), 'empty file, not a checkpoint'),
             (str(text), 'not a checkpoint (not a PyTorch file)'),
             (str(cut), 'not a checkpoint ('),
             (other, 'not a checkpoint of this model: ')]
    for path, needle in cases:
        with pytest.raises(InputError, match=__import__('re').escape(needle)):
            init_refiner(TINY_CONFIG, path, 'cpu')
        proc = _tool(['tools/refine_coco.py', TINY_CONFIG, path, coco['coarse'],
                      str(tmp_path / 'o.json'), '--img-dir', coco['img_dir'], '--gt-json',
                      coco['gt'], '--device', 'cpu'])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and needle in lines[0], proc.stderr
        assert len(lines[0]) < 400
        if path == str(cut):  # torch's reason, cut at a sentence's end, not in a word
            assert lines[0].endswith(')') and '. ' not in lines[0], lines[0]
    line = lines[0]
    assert 'missing keys, e.g. ' in line and '40 unexpected keys, e.g. layer0.weight' in line


def test_output_paths_are_checked_before_any_work(coco, tmp_path):
    coarse = tmp_path / 'coarse.json'
    shutil.copy(coco['coarse'], coarse)
    before = coarse.read_bytes()
    (tmp_path / 'a_file').write_text('x')
    (tmp_path / 'a_dir').mkdir()
    cases = [(str(coarse), 'output would overwrite the input'),
             (str(tmp_path / 'a_dir'), 'output file is an existing directory'),
             (str(tmp_path / 'a_file' / 'out.json'), 'cannot write there'),
             ('/proc/bpr_out.json', 'cannot write there')]
    for out, needle in cases:
        proc = _tool(['tools/refine_coco.py', TINY_CONFIG, 'none', str(coarse), out,
                      '--img-dir', coco['img_dir'], '--gt-json', coco['gt'], '--device', 'cpu'])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr
        assert lines[0] == f'error: {out}: {needle}' or needle in lines[0], lines
    assert coarse.read_bytes() == before
    with pytest.raises(InputError, match='output folder is an existing file'):
        check_output(str(tmp_path / 'a_file'), folder=True)


def test_device_is_checked_before_any_work(coco, tmp_path):
    assert check_device('cpu') == torch.device('cpu')
    with pytest.raises(ValueError, match=r"device 'tpu': not a device"):
        check_device('tpu')
    # no machine has 99 GPUs: refused with or without CUDA
    missing = r"device 'cuda:99': (no CUDA GPU is available here|this machine has \d+ CUDA)"
    with pytest.raises(ValueError, match=missing):
        init_refiner(TINY_CONFIG, 'none', device='cuda:99')
    out = tmp_path / 'out.json'
    proc = _tool(['tools/refine_coco.py', TINY_CONFIG, 'none', coco['coarse'], str(out),
                  '--img-dir', coco['img_dir'], '--gt-json', coco['gt'], '--device', 'cuda:99'])
    assert proc.returncode == 2 and re.search(f'argument --device: {missing}', proc.stderr)
    assert proc.stderr.strip().splitlines()[-1].startswith('refine_coco.py: error:')
    assert not out.exists()


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_results_get_the_users_umask(coco, tmp_path):
    old = os.umask(0o022)
    try:
        dump_json([1], str(tmp_path / 'a.json'))
        assert os.stat(tmp_path / 'a.json').st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
    out = tmp_path / 'refined.json'
    proc = subprocess.run([sys.executable, 'tools/refine_coco.py', TINY_CONFIG, 'none',
                           coco['coarse'], str(out), '--img-dir', coco['img_dir'], '--gt-json',
                           coco['gt'], '--device', 'cpu'], cwd=ROOT, capture_output=True,
                          preexec_fn=lambda: os.umask(0o027))
    assert proc.returncode == 0, proc.stderr
    assert os.stat(out).st_mode & 0o777 == 0o640


def test_normal_run_prints_no_third_party_lines(coco, tmp_path):
    proc = _tool(['tools/refine_coco.py', TINY_CONFIG, 'none', coco['coarse'],
                  str(tmp_path / 'r.json'), '--img-dir', coco['img_dir'], '--gt-json',
                  coco['gt'], '--device', 'cpu'])
    assert proc.returncode == 0, proc.stderr
    # what remains besides our progress bar
    other = [line for line in proc.stderr.replace('\r', '\n').splitlines()
             if line.strip() and not line.startswith('refine[0]')]
    assert other == [], proc.stderr
    assert proc.stdout == ''
    # --verbose shows what the import kept back
    proc = _tool(['tools/refine_coco.py', TINY_CONFIG, 'none', coco['coarse'],
                  str(tmp_path / 'r2.json'), '--img-dir', coco['img_dir'], '--gt-json',
                  coco['gt'], '--device', 'cpu', '--verbose'])
    assert proc.returncode == 0 and 'MMCV will release v2.0.0' in proc.stderr, proc.stderr


def test_ctrl_c_exits_130_with_one_line(tmp_path):
    code = ('import os, signal, time\nfrom bpr.core.io import cli, dump_json\n'
            '@cli\ndef main():\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(5)\n'
            '    dump_json([], %r)\nmain()' % str(tmp_path / 'never.json'))
    proc = _tool(['-c', code])
    assert proc.returncode == 130
    assert proc.stderr.strip().splitlines() == ['interrupted']
    assert os.listdir(tmp_path) == []


def test_ctrl_c_of_a_running_tool(coco, tmp_path):
    """SIGINT while refine_coco.py works (its refinement made to interrupt itself): exit 130,
    one line, no output file."""
    out = tmp_path / 'r.json'
    args = [TINY_CONFIG, 'none', coco['coarse'], str(out), '--img-dir', coco['img_dir'],
            '--gt-json', coco['gt'], '--device', 'cpu']
    code = ('import os, signal, sys, time\n'
            'sys.path.insert(0, "tools")\n'
            'import bpr.apis.coco as api\n'
            'def slow(*args, **kwargs):\n'
            '    os.kill(os.getpid(), signal.SIGINT)\n'
            '    time.sleep(10)\n'
            'api.refine_results = slow\n'
            'import refine_coco\n'
            f'refine_coco.main({args!r})\n')
    proc = _tool(['-c', code], timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == ['interrupted']
    assert not out.exists() and os.listdir(tmp_path) == []


def test_ctrl_c_with_loader_and_paster_processes(coco, tmp_path):
    """Ctrl-C reaches the whole process group, loader and paster processes too: still exit
    130 with one line and no output file, and at once (an interrupted loader made the parent
    wait 5 s for it; an interrupted paster printed a traceback)."""
    out = tmp_path / 'r.json'
    args = [TINY_CONFIG, 'none', coco['coarse'], str(out), '--img-dir', coco['img_dir'],
            '--gt-json', coco['gt'], '--device', 'cpu', '--workers', '2']
    code = ('import os, signal, sys, time\n'
            'sys.path.insert(0, "tools")\n'
            'import bpr.apis.coco as api\n'
            'def interrupted(*args, **kwargs):\n'
            '    os.killpg(0, signal.SIGINT)\n'
            '    time.sleep(30)\n'
            'api.run_groups = interrupted\n'
            'import refine_coco\n'
            f'refine_coco.main({args!r})\n')
    start = time.perf_counter()
    # a session of its own: the signal goes to that process group, not to the tests'
    proc = _tool(['-c', code], timeout=120, start_new_session=True)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == ['interrupted']
    assert time.perf_counter() - start < 20  # not the 30 s of the sleep, nor loaders' waits
    assert not out.exists() and os.listdir(tmp_path) == []


def test_inference_sh_writes_only_inside_out_dir_and_keeps_earlier_results(coco, tmp_path):
    from test_scripts import _cityscapes_tree
    root = tmp_path / 'a' / 'b'
    root.mkdir(parents=True)
    gt, img_dir, pred = _cityscapes_tree(coco, str(root))
    txt = sorted(glob.glob(osp.join(pred, '*_pred.txt')))[0]
    lines = open(txt).read().splitlines()
    # mask names that leave the folder: up two levels, and absolute
    up, absolute = tmp_path / 'a' / 'up.png', tmp_path / 'absolute.png'
    shutil.move(osp.join(pred, lines[0].split()[0]), up)
    shutil.move(osp.join(pred, lines[1].split()[0]), absolute)
    lines[0] = ' '.join(['../../up.png'] + lines[0].split()[1:])
    lines[1] = ' '.join([str(absolute)] + lines[1].split()[1:])
    open(txt, 'w').write('\n'.join(lines) + '\n')
    before = {p: p.read_bytes() for p in (up, absolute)}
    out = tmp_path / 'out'
    env = dict(os.environ, IMG_DIR=img_dir, GT_JSON=gt, PATCH_SIZE='32')
    proc = subprocess.run(['sh', 'tools/inference.sh', TINY_CONFIG, 'none', pred, str(out)],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert {p: p.read_bytes() for p in (up, absolute)} == before
    refined = out / 'refined'
    written = [osp.relpath(p, refined) for p in glob.glob(str(refined / '**'), recursive=True)
               if osp.isfile(p)]
    assert len(written) == len(os.listdir(pred)) + 2  # every mask and txt, none elsewhere
    names = [line.split()[0] for line in open(refined / osp.basename(txt))]
    assert all((refined / n).is_file() and not n.startswith(('/', '..')) for n in names)
    assert sorted(os.listdir(out)) == ['coarse.json', 'refined', 'refined.json']
    modes = {os.stat(p).st_mode & 0o777 for p in [out / 'refined.json', refined / names[0]]}
    assert modes == {0o666 & ~_umask()}
    # a failing rerun leaves the earlier results as they were
    snapshot = {p: open(p, 'rb').read() for p in glob.glob(str(out / '**'), recursive=True)
                if osp.isfile(p)}
    open(txt, 'a').write('not_a_line\n')
    proc = subprocess.run(['sh', 'tools/inference.sh', TINY_CONFIG, 'none', pred, str(out)],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert {p: open(p, 'rb').read() for p in glob.glob(str(out / '**'), recursive=True)
            if osp.isfile(p)} == snapshot
    assert sorted(os.listdir(out)) == ['coarse.json', 'refined', 'refined.json']
    # the coarse folder as the output's refined folder: refused, input untouched
    proc = subprocess.run(['sh', 'tools/inference.sh', TINY_CONFIG, 'none', str(refined),
                           str(out)], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and 'would replace the input' in proc.stderr
    assert {p: open(p, 'rb').read() for p in glob.glob(str(out / '**'), recursive=True)
            if osp.isfile(p)} == snapshot


def test_json2cityscapes_refuses_names_written_twice(coco, tmp_path):
    from bpr.core.cityscapes import coco_to_cityscapes
    from test_scripts import _cityscapes_tree
    gt_path, _, pred = _cityscapes_tree(coco, str(tmp_path))
    from bpr.core.cityscapes import cityscapes_to_coco
    gt = json.load(open(gt_path))
    results = cityscapes_to_coco(pred, gt, progress=False)
    results[1]['cityscapes_mask'] = results[0]['cityscapes_mask']
    out = tmp_path / 'out'
    with pytest.raises(InputError, match=r'result \[1\]: mask file .* would overwrite'):
        coco_to_cityscapes(results, gt, str(out), progress=False)
    assert not out.exists() or not os.listdir(out)
