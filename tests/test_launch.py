"""Launchers: several nodes (two torchrun launches on localhost), SLURM (a stand-in srun),
PYTHON for every shell entry point, one-line errors under torchrun."""
import json
import os
import os.path as osp
import pickle
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from bpr.apis.dist import first_host, slurm_env
from helpers import ROOT, TINY_CONFIG, random_checkpoint
from test_scripts import _losses, run


def _two_nodes(cmd, env, port):
    """``cmd`` as node 0 and node 1 of a two-node run (one process each, gloo)."""
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, OMP_NUM_THREADS='1', NNODES='2',
                                                  NODE_RANK=str(rank), MASTER_ADDR='127.0.0.1',
                                                  PORT=str(port), GPUS='1', **env))
             for rank in (0, 1)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f'{cmd}\n{out[-2000:]}\n{err[-3000:]}'
    return outs


def test_training_on_two_nodes(patches, tmp_path):
    work = str(tmp_path / 'work')
    _two_nodes(['bash', 'tools/dist_train.sh', TINY_CONFIG, '1', '--work-dir', work,
                '--no-validate', '--seed', '0', '--cfg-options', 'runner.max_iters=20',
                'optimizer.lr=0.05', 'checkpoint_config.interval=20', 'log_config.interval=5'],
               dict(DATA_ROOT=patches), 29631)
    state = torch.load(osp.join(work, 'iter_20.pth'), map_location='cpu',
                       weights_only=True)['state_dict']
    from bpr.apis import init_refiner
    one_node = init_refiner(TINY_CONFIG, 'none', 'cpu', fuse=False).state_dict()
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in one_node.items()}
    losses = _losses(work)
    assert len(losses) >= 3 and np.mean(losses[-2:]) < np.mean(losses[:2]), losses


def test_dist_test_and_inference_on_two_nodes_equal_one_process(coco, patches, tmp_path):
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    one, two = str(tmp_path / 'one.pkl'), str(tmp_path / 'two.pkl')
    run(['python', 'tools/test.py', TINY_CONFIG, ckpt, '--out', one, '--device', 'cpu'],
        env=dict(DATA_ROOT=patches))
    _two_nodes(['bash', 'tools/dist_test.sh', TINY_CONFIG, ckpt, '1', '--out', two],
               dict(DATA_ROOT=patches), 29632)
    a, b = pickle.load(open(one, 'rb')), pickle.load(open(two, 'rb'))
    assert len(a) == len(b) == len(os.listdir(osp.join(patches, 'img_dir', 'val')))
    assert all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b))

    env = dict(IMG_DIR=coco['img_dir'], GT_JSON=coco['gt'], PATCH_SIZE='32')
    one, two = str(tmp_path / 'one.json'), str(tmp_path / 'two.json')
    run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, ckpt, coco['coarse'], one], env=env)
    _two_nodes(['sh', 'tools/inference_coco.sh', TINY_CONFIG, ckpt, coco['coarse'], two],
               env, 29633)
    assert json.load(open(one)) == json.load(open(two))


def test_slurm_env_from_slurm_variables(monkeypatch):
    env = dict(SLURM_PROCID='5', SLURM_NTASKS='8', SLURM_LOCALID='1',
               SLURM_NODELIST='gpu[07-08,11]', SLURM_TASKS_PER_NODE='4(x2)')
    monkeypatch.setenv('PATH', '/nonexistent')  # no scontrol: the node list is parsed
    assert slurm_env(env) == dict(RANK='5', WORLD_SIZE='8', LOCAL_RANK='1',
                                  LOCAL_WORLD_SIZE='4', MASTER_ADDR='gpu07',
                                  MASTER_PORT='29500')
    assert slurm_env(dict(env, MASTER_PORT='1234', SLURM_NTASKS_PER_NODE='2'))[
        'MASTER_PORT'] == '1234'
    assert first_host('node1,node2') == 'node1' and first_host('a-b[3,5-6]') == 'a-b3'


FAKE_SRUN = '''#!{python}
"""srun stand-in: one local process per task, with SLURM's variables."""
import os, subprocess, sys
args = sys.argv[1:]
with open({log!r}, 'w') as f:
    f.write(' '.join(args))
opts = {{}}
while args[0].startswith('-'):
    if '=' in args[0]:
        key, value = args.pop(0).split('=', 1)
    else:
        key, value = args.pop(0), args.pop(0)
    opts[key] = value
n, per_node = int(opts['--ntasks']), int(opts['--ntasks-per-node'])
procs = [subprocess.Popen(args, env=dict(os.environ, SLURM_PROCID=str(i), SLURM_NTASKS=str(n),
                                         SLURM_LOCALID=str(i % per_node),
                                         SLURM_NODELIST='localhost',
                                         SLURM_NTASKS_PER_NODE=str(per_node)))
         for i in range(n)]
sys.exit(max(p.wait() for p in procs))
'''


def test_slurm_scripts_with_a_stand_in_srun(coco, patches, tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    log = str(tmp_path / 'srun_args')
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN.format(python=sys.executable, log=log))
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = dict(PATH=f'{bin_dir}:{os.environ["PATH"]}', GPUS='2', GPUS_PER_NODE='2',
               PORT='29634', DATA_ROOT=patches)
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    one, two = str(tmp_path / 'one.pkl'), str(tmp_path / 'two.pkl')
    run(['python', 'tools/test.py', TINY_CONFIG, ckpt, '--out', one, '--device', 'cpu'],
        env=dict(DATA_ROOT=patches))
    run(['bash', 'tools/slurm_test.sh', 'dev', 'bpr', TINY_CONFIG, ckpt, '--out', two], env=env)
    args = open(log).read()
    assert args.startswith('-p dev --job-name=bpr --gres=gpu:2 --ntasks=2 --ntasks-per-node=2')
    assert args.endswith('--out ' + two + ' --launcher slurm')
    a, b = pickle.load(open(one, 'rb')), pickle.load(open(two, 'rb'))
    assert len(a) == len(b) and all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b))
    # inference through the generic launcher, on CPU nodes (no GRES)
    out = str(tmp_path / 'refined.json')
    run(['bash', 'tools/slurm_launch.sh', 'dev', 'bpr', 'tools/refine_coco.py', TINY_CONFIG,
         ckpt, coco['coarse'], out, '--img-dir', coco['img_dir'], '--gt-json', coco['gt'],
         '--patch-size', '32'], env=dict(env, GRES='', PORT='29635'))
    assert '--gres' not in open(log).read()
    single = str(tmp_path / 'single.json')
    run(['python', 'tools/refine_coco.py', TINY_CONFIG, ckpt, coco['coarse'], single,
         '--img-dir', coco['img_dir'], '--gt-json', coco['gt'], '--patch-size', '32'])
    assert json.load(open(out)) == json.load(open(single))


def test_entry_points_honour_python(coco, patches, tmp_path):
    """PYTHON=python3 on a PATH without ``python``."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / 'python3')
    env = dict(PATH=f'{bin_dir}:/usr/bin:/bin', PYTHON='python3')
    assert subprocess.run(['sh', '-c', 'command -v python'], env=env).returncode != 0
    run(['sh', 'tools/prepare_dataset_coco.sh', coco['coarse'], coco['coarse'],
         str(tmp_path / 'ds'), '2'],
        env=dict(env, IMG_DIR_TRAIN=coco['img_dir'], IMG_DIR_VAL=coco['img_dir'],
                 GT_JSON_TRAIN=coco['gt'], GT_JSON_VAL=coco['gt'], PATCH_SIZE='32'))
    work = str(tmp_path / 'work')
    run(['bash', 'tools/dist_train.sh', TINY_CONFIG, '1', '--work-dir', work, '--no-validate',
         '--cfg-options', 'runner.max_iters=2', 'checkpoint_config.interval=2'],
        env=dict(env, DATA_ROOT=patches))
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    run(['bash', 'tools/dist_test.sh', TINY_CONFIG, osp.join(work, 'iter_2.pth'), '1',
         '--out', str(tmp_path / 'p.pkl')], env=dict(env, DATA_ROOT=patches))
    run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, 'none', coco['coarse'],
         str(tmp_path / 'r.json')],
        env=dict(env, IMG_DIR=coco['img_dir'], GT_JSON=coco['gt'], PATCH_SIZE='32'))
    assert len(json.load(open(tmp_path / 'r.json'))) == len(json.load(open(coco['coarse'])))


@pytest.mark.parametrize('gpus', ['1', '2'])
def test_refused_input_under_torchrun_is_one_line(coco, tmp_path, gpus):
    bad = tmp_path / 'bad.json'
    coarse = json.load(open(coco['coarse']))
    coarse[0]['segmentation'] = dict(coarse[0]['segmentation'], counts=[3])
    bad.write_text(json.dumps(coarse))
    out = tmp_path / 'r.json'
    proc = subprocess.run(['sh', 'tools/inference_coco.sh', TINY_CONFIG, 'none', str(bad),
                           str(out)], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, IMG_DIR=coco['img_dir'], GT_JSON=coco['gt'],
                                   GPUS=gpus, DIST='1'))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f'error: {bad}: result [0]') and 'RLE run lengths' in lines[0]
    assert not out.exists()


def test_one_node_jobs_beside_each_other_take_free_ports(tmp_path):
    """PORT unset on one node: torchrun's default port (held here, as by a running training)
    is not needed; PORT set: that port is used."""
    probe = tmp_path / 'port.py'
    # one write per worker: pipe writes this short are atomic, print's two writes are not
    probe.write_text('import os\nos.write(1, (os.environ["MASTER_PORT"] + "\\n").encode())\n')
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(('', 29500))
        busy.listen()
        ports = [run(['sh', 'tools/launch.sh', str(probe)], env=dict(DIST='1', GPUS='2'))
                 .stdout.split() for _ in range(2)]
    assert all(len(p) == 2 and p[0] == p[1] != '29500' for p in ports), ports
    fixed = run(['sh', 'tools/launch.sh', str(probe)], env=dict(DIST='1', PORT='29637'))
    assert fixed.stdout.split() == ['29637']
    # the flag itself, whatever this torch's default port is
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    args = run(['sh', 'tools/launch.sh', 'x.py'], env=dict(DIST='1', PYTHON=str(fake))).stdout
    assert args.split()[:4] == ['-m', 'bpr.apis.launch', '--nproc_per_node=1', '--standalone']
