"""End to end through the real tools on the embedded toy datasets.

One short training per task, shared by the tests that use its checkpoint:
LeViT-128S SSDLite (4 epochs) and DeepLabv3-EMO-2M (60 iterations) must
beat their untrained selves by far, and our test.py, mmdet's / mmseg's own
test.py, the inferencers behind tools/demo.py and test.py --show-dir all
work on what they produced.  SSDLite-EMO-2M (the demo config) is killed and
resumed on a small subset and must end with the weights of an uninterrupted
run, also when its newest checkpoint is damaged.  ``-m slow`` adds the
demo's whole schedule.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import REPO, run_tool, save_untrained

pytestmark = pytest.mark.train

DET_TOY = REPO / 'configs' / 'toy' / 'ssdlite_emo_2m_toy.py'
LEVIT_TOY = REPO / 'configs' / 'toy' / 'ssdlite_levit_128s_toy.py'
SEG_TOY = REPO / 'configs' / 'toy' / 'deeplabv3_emo_2m_toy.py'
RETINANET_TOY = REPO / 'configs' / 'toy' / 'retinanet_emo_2m_toy.py'
SITE = os.path.dirname(os.path.dirname(torch.__file__))
STOCK = {scope: os.path.join(SITE, scope, '.mim', 'tools')
         for scope in ('mmdet', 'mmseg')}


def metrics_of(result) -> dict:
    """The metrics line tools/test.py prints."""
    assert result.returncode == 0, result.stdout[-3000:] + \
        result.stderr[-3000:]
    match = re.search(r'^metrics json: (\{.*\})$', result.stdout, re.M)
    assert match, result.stdout[-2000:]
    return json.loads(match.group(1))


def evaluate_with_untrained(config, checkpoint, workspace, tmp_path):
    """tools/test.py metrics of ``checkpoint`` and of an untrained model."""
    tested = metrics_of(run_tool('test.py', config, checkpoint, '--work-dir',
                                 tmp_path / 'test', cwd=workspace))
    untrained_ckpt = tmp_path / 'untrained.pth'
    save_untrained(config, untrained_ckpt)
    untrained = metrics_of(run_tool('test.py', config, untrained_ckpt,
                                    '--work-dir', tmp_path / 'untrained',
                                    cwd=workspace))
    return tested, untrained


def last_val_metrics(work_dir) -> dict:
    """The last validation record mmengine wrote during training."""
    records = []
    for path in work_dir.glob('*/vis_data/scalars.json'):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if any(k.startswith(('coco/', 'mIoU')) for k in record):
                records.append(record)
    assert records, f'no validation record under {work_dir}'
    return max(records, key=lambda r: r.get('step', 0))


def train(config, work_dir, workspace, *options):
    result = run_tool('train.py', config, '--work-dir', work_dir,
                      '--cfg-options', *options, cwd=workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_stock(scope, script, *args, cwd):
    """mmdet's / mmseg's own tools/<script>, shipped in their wheels."""
    return subprocess.run(
        [sys.executable, os.path.join(STOCK[scope], script), *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, PYTHONPATH=str(REPO)))


def image_sizes(folder) -> dict:
    import cv2
    sizes = {}
    for path in sorted(folder.rglob('*')):
        if path.suffix in ('.jpg', '.png'):
            image = cv2.imread(str(path))
            assert image is not None and image.size, path
            sizes[path.name] = image.shape[:2]
    return sizes


# --------------------------------------------------------------- detection
LEVIT_EPOCHS = 4  # of the toy schedule's 8


@pytest.fixture(scope='module')
def levit_detector(toy_workspace, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ssdlite_levit_toy')
    train(LEVIT_TOY, work_dir, toy_workspace,
          f'train_cfg.max_epochs={LEVIT_EPOCHS}',
          f'train_cfg.val_interval={LEVIT_EPOCHS}')
    return work_dir, work_dir / f'epoch_{LEVIT_EPOCHS}.pth'


def test_detector_learns_and_test_reproduces(levit_detector, toy_workspace,
                                             tmp_path):
    work_dir, checkpoint = levit_detector
    trained_val = last_val_metrics(work_dir)['coco/bbox_mAP']
    tested, untrained = evaluate_with_untrained(LEVIT_TOY, checkpoint,
                                                toy_workspace, tmp_path)
    print(f'\ntoy SSDLite-LeViT-128S COCO bbox mAP after {LEVIT_EPOCHS} '
          f'epochs: trained {trained_val:.3f} (test.py '
          f'{tested["coco/bbox_mAP"]:.3f}), untrained '
          f'{untrained["coco/bbox_mAP"]:.3f}')
    assert untrained['coco/bbox_mAP'] < 0.01
    assert trained_val >= 0.05
    assert tested['coco/bbox_mAP'] == pytest.approx(trained_val, abs=1e-3)
    assert tested['coco/bbox_mAP_50'] > 5 * max(
        untrained['coco/bbox_mAP_50'], 0.01)


def deploy_and_test(config, checkpoint, backend, workspace, out, *extra):
    """tools/deploy.py, then tools/test.py on the artefact folder: the
    runtime on image files, scored by the config's evaluator (``extra``
    ending in --cfg-options goes to both)."""
    options = list(extra[extra.index('--cfg-options'):]) \
        if '--cfg-options' in extra else []
    deployed = run_tool('deploy.py', config, checkpoint, '--backend', backend,
                        '--out', out, *extra, cwd=workspace)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    return metrics_of(run_tool('test.py', config, out, *options,
                               cwd=workspace))


@pytest.fixture(scope='module')
def levit_detector_map(levit_detector, toy_workspace, tmp_path_factory):
    """The checkpoint's COCO mAP by tools/test.py in PyTorch."""
    return metrics_of(run_tool(
        'test.py', LEVIT_TOY, levit_detector[1], '--work-dir',
        tmp_path_factory.mktemp('levit_test'),
        cwd=toy_workspace))['coco/bbox_mAP']


def test_deployed_detector_reaches_the_checkpoints_map(
        levit_detector, levit_detector_map, toy_workspace, tmp_path):
    """An onnxruntime artefact on the toy set: the checkpoint's mAP."""
    checkpoint = levit_detector[1]
    deployed = deploy_and_test(LEVIT_TOY, checkpoint, 'onnxruntime',
                               toy_workspace, tmp_path / 'ort')
    manifest = json.loads((tmp_path / 'ort' / 'manifest.json').read_text())
    assert manifest['classes'] == ['circle', 'square', 'triangle', 'cross']
    assert manifest['source']['checkpoint_sha256'] == \
        hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    print(f'\ntoy SSDLite-LeViT-128S COCO bbox mAP: PyTorch '
          f'{levit_detector_map:.4f}, onnxruntime fp32 artefact '
          f'{deployed["coco/bbox_mAP"]:.4f}')
    assert levit_detector_map >= 0.05
    assert deployed['coco/bbox_mAP'] == pytest.approx(levit_detector_map,
                                                      abs=0.002)


@pytest.mark.slow
@pytest.mark.parametrize('backend, int8', [
    ('openvino', False), ('ncnn', False), ('mnn', False),
    ('executorch', False), ('litert', False), ('onnxruntime', True),
    ('openvino', True)])
def test_every_deployed_detector_reaches_the_checkpoints_map(
        levit_detector, levit_detector_map, toy_workspace, tmp_path,
        backend, int8):
    """fp32 within 0.002 of the checkpoint's mAP, int8 within 0.02."""
    extra = ['--int8', '--calib-images', '32'] if int8 else []
    deployed = deploy_and_test(LEVIT_TOY, levit_detector[1], backend,
                               toy_workspace, tmp_path / 'artefact', *extra)
    print(f'\ntoy SSDLite-LeViT-128S COCO bbox mAP: PyTorch '
          f'{levit_detector_map:.4f}, {backend} {"int8" if int8 else "fp32"}'
          f' artefact {deployed["coco/bbox_mAP"]:.4f}')
    assert deployed['coco/bbox_mAP'] == pytest.approx(
        levit_detector_map, abs=0.02 if int8 else 0.002)


@pytest.mark.slow
def test_deployed_retinanet_keeps_the_aspect_ratio_as_pytorch(
        toy_workspace, tmp_path):
    """Toy RetinaNet-EMO-2M (3 epochs; keep-ratio resize, padding to 32):
    onnxruntime and OpenVINO artefacts with a free input size reach the
    checkpoint's mAP (measured: 0.038 for all three)."""
    work_dir = tmp_path / 'train'
    train(RETINANET_TOY, work_dir, toy_workspace, 'train_cfg.max_epochs=3',
          'train_cfg.val_interval=3')
    pytorch = last_val_metrics(work_dir)['coco/bbox_mAP']
    for backend in ('onnxruntime', 'openvino'):
        deployed = deploy_and_test(RETINANET_TOY, work_dir / 'epoch_3.pth',
                                   backend, toy_workspace, tmp_path / backend)
        print(f'\ntoy RetinaNet-EMO-2M COCO bbox mAP: PyTorch {pytorch:.4f}, '
              f'{backend} fp32 artefact (free input size) '
              f'{deployed["coco/bbox_mAP"]:.4f}')
        assert deployed['coco/bbox_mAP'] == pytest.approx(pytorch, abs=0.002)


def test_stock_mmdet_test_py_reproduces(levit_detector, toy_workspace,
                                        tmp_path):
    work_dir, checkpoint = levit_detector
    result = run_stock('mmdet', 'test.py', LEVIT_TOY, checkpoint,
                       '--work-dir', tmp_path, cwd=toy_workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    stock = float(re.search(r'coco/bbox_mAP: ([\d.]+)',
                            result.stdout + result.stderr).group(1))
    assert stock == pytest.approx(
        last_val_metrics(work_dir)['coco/bbox_mAP'], abs=1e-3)


def test_test_py_draws_every_test_image(levit_detector, toy_workspace,
                                        tmp_path):
    _, checkpoint = levit_detector
    show = tmp_path / 'show'
    result = run_tool('test.py', LEVIT_TOY, checkpoint, '--work-dir',
                      tmp_path / 'w', '--show-dir', show, '--show-score-thr',
                      '0.2', '--cfg-options',
                      'test_dataloader.dataset.indices=3', cwd=toy_workspace)
    metrics_of(result)
    assert f'drew the predictions into {show}' in result.stdout
    sources = image_sizes(toy_workspace / 'data' / 'toy_coco' / 'val2017')
    drawn = image_sizes(show)
    # Ground truth on the left, predictions on the right, as mmdet draws.
    assert len(drawn) == 3
    assert all(drawn[name] == (sources[name][0], 2 * sources[name][1])
               for name in drawn)


def test_demo_draws_with_det_inferencer(levit_detector, toy_workspace,
                                        tmp_path):
    _, checkpoint = levit_detector
    images = toy_workspace / 'data' / 'toy_coco' / 'val2017'
    picked = tmp_path / 'images'
    picked.mkdir()
    for path in sorted(images.iterdir())[:2]:
        (picked / path.name).write_bytes(path.read_bytes())
    result = run_tool('demo.py', picked, LEVIT_TOY, checkpoint, '--out-dir',
                      tmp_path / 'out', cwd=toy_workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'wrote 2 images' in result.stdout
    assert image_sizes(tmp_path / 'out') == image_sizes(picked)


# ------------------------------------------------------------ segmentation
SEG_ITERS = 60  # of the toy schedule's 600


@pytest.fixture(scope='module')
def segmentor(toy_workspace, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('deeplabv3_toy')
    train(SEG_TOY, work_dir, toy_workspace, f'train_cfg.max_iters={SEG_ITERS}',
          f'train_cfg.val_interval={SEG_ITERS}')
    return work_dir, work_dir / f'iter_{SEG_ITERS}.pth'


def test_segmentor_learns_and_test_reproduces(segmentor, toy_workspace,
                                              tmp_path):
    work_dir, checkpoint = segmentor
    trained_val = last_val_metrics(work_dir)
    tested, untrained = evaluate_with_untrained(SEG_TOY, checkpoint,
                                                toy_workspace, tmp_path)
    print(f'\ntoy DeepLabv3-EMO-2M mIoU after {SEG_ITERS} iterations: '
          f'trained {trained_val["mIoU"]:.2f} (test.py '
          f'{tested["mIoU"]:.2f}, aAcc {tested["aAcc"]:.2f}), untrained '
          f'{untrained["mIoU"]:.2f}')
    for key in ('mIoU', 'aAcc', 'mAcc'):
        assert tested[key] == pytest.approx(trained_val[key], abs=0.01)
    assert untrained['mIoU'] < 10
    assert trained_val['mIoU'] >= 15
    assert trained_val['mIoU'] > 3 * untrained['mIoU']


@pytest.fixture(scope='module')
def segmentor_miou(segmentor):
    """The checkpoint's mIoU in PyTorch with the toy config's own
    keep-ratio test resize: its validation at the end of training, which
    tools/test.py reproduces (test_segmentor_learns_and_test_reproduces)."""
    return last_val_metrics(segmentor[0])['mIoU']


@pytest.mark.slow
def test_deployed_segmentor_keeps_the_aspect_ratio_as_pytorch(
        segmentor, segmentor_miou, toy_workspace, tmp_path):
    """The toy test pipeline keeps the aspect ratio: the onnxruntime
    artefact leaves its input size free and reaches the checkpoint's mIoU
    on the toy set (padding to a static size cost 18 points,
    docs/deployment.md)."""
    deployed = deploy_and_test(SEG_TOY, segmentor[1], 'onnxruntime',
                               toy_workspace, tmp_path / 'ort')
    manifest = json.loads((tmp_path / 'ort' / 'manifest.json').read_text())
    assert manifest['input']['size'] is None
    print(f'\ntoy DeepLabv3-EMO-2M mIoU: PyTorch {segmentor_miou:.2f}, '
          f'onnxruntime fp32 artefact (free input size) '
          f'{deployed["mIoU"]:.2f}')
    assert segmentor_miou >= 15
    assert deployed['mIoU'] == pytest.approx(segmentor_miou, abs=0.2)


# ncnn, MNN, ExecuTorch and LiteRT artefacts have a static input size: the
# toy test pipeline with a fixed-size resize, so that the artefact sees
# what PyTorch sees.
STATIC_SIZE_BACKENDS = ('ncnn', 'mnn', 'executorch', 'litert')
FIXED_SIZE_SEG = ['--cfg-options', 'test_dataloader.dataset.pipeline.1.'
                  'keep_ratio=False',
                  'test_dataloader.dataset.pipeline.1.scale=(320,256)']


@pytest.mark.slow
@pytest.mark.parametrize('backend, int8', [
    ('openvino', False), ('ncnn', False), ('mnn', False),
    ('executorch', False), ('litert', False), ('onnxruntime', True),
    ('openvino', True), ('executorch', True)])
def test_every_deployed_segmentor_reaches_the_checkpoints_miou(
        segmentor, segmentor_miou, toy_workspace, tmp_path, backend, int8):
    """fp32 within 0.2 mIoU points (0.002) of the checkpoint's, int8 within
    2: onnxruntime and OpenVINO with the keep-ratio resize (free input
    size), the static-size runtimes with the set resized to 256x320."""
    fixed = FIXED_SIZE_SEG if backend in STATIC_SIZE_BACKENDS else []
    pytorch = metrics_of(run_tool(
        'test.py', SEG_TOY, segmentor[1], '--work-dir', tmp_path / 'test',
        *fixed, cwd=toy_workspace))['mIoU'] if fixed else segmentor_miou
    extra = ['--int8', '--calib-images', '32'] if int8 else []
    deployed = deploy_and_test(SEG_TOY, segmentor[1], backend, toy_workspace,
                               tmp_path / 'artefact', *extra, *fixed)
    print(f'\ntoy DeepLabv3-EMO-2M mIoU: PyTorch {pytorch:.2f}, '
          f'{backend} {"int8" if int8 else "fp32"} artefact '
          f'{deployed["mIoU"]:.2f}{" (256x320)" if fixed else ""}')
    assert deployed['mIoU'] == pytest.approx(pytorch, abs=2 if int8 else 0.2)


@pytest.mark.slow
def test_stock_mmseg_test_py_and_show_dir(segmentor, toy_workspace,
                                          tmp_path):
    work_dir, checkpoint = segmentor
    result = run_stock('mmseg', 'test.py', SEG_TOY, checkpoint, '--work-dir',
                       tmp_path / 'stock', cwd=toy_workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    stock = float(re.search(r'mIoU: ([\d.]+)',
                            result.stdout + result.stderr).group(1))
    assert stock == pytest.approx(last_val_metrics(work_dir)['mIoU'],
                                  abs=0.01)
    show = tmp_path / 'show'
    metrics_of(run_tool('test.py', SEG_TOY, checkpoint, '--work-dir',
                        tmp_path / 'ours', '--show-dir', show,
                        '--cfg-options', 'test_dataloader.dataset.indices=3',
                        cwd=toy_workspace))
    drawn = image_sizes(show)
    sources = image_sizes(toy_workspace / 'data' / 'toy_ade20k' / 'images' /
                          'validation')
    # Ground truth on the left, predictions on the right, as mmseg draws.
    assert len(drawn) == 3
    assert sorted(drawn.values()) == sorted(
        (h, 2 * w) for h, w in (sources[n] for n in sorted(sources)[:3]))


def test_demo_draws_with_mmseg_inferencer(segmentor, toy_workspace,
                                          tmp_path):
    _, checkpoint = segmentor
    image = sorted((toy_workspace / 'data' / 'toy_ade20k' / 'images' /
                    'validation').iterdir())[0]
    result = run_tool('demo.py', image, SEG_TOY, checkpoint, '--out-dir',
                      tmp_path, cwd=toy_workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    drawn = image_sizes(tmp_path)
    assert list(drawn.values()) == [image_sizes(image.parent)[image.name]]


def test_plot_curves_of_both_runs(levit_detector, segmentor, tmp_path):
    import cv2
    out = tmp_path / 'curves.png'
    result = run_tool('plot_curves.py', levit_detector[0], '--out', out,
                      '--keys', 'loss', 'lr', 'coco/bbox_mAP')
    assert result.returncode == 0, result.stderr[-2000:]
    assert cv2.imread(str(out)).shape == (340, 1260, 3)
    both = tmp_path / 'both.png'
    result = run_tool('plot_curves.py', levit_detector[0], segmentor[0],
                      '--out', both, '--keys', 'loss', '--labels', 'det',
                      'seg')
    assert result.returncode == 0, result.stderr[-2000:]
    assert cv2.imread(str(both)).shape == (340, 420, 3)


# -------------------------------------------------- stock training tools
@pytest.mark.slow
def test_stock_mmdet_and_mmseg_train_py_run_our_configs(toy_workspace,
                                                        tmp_path):
    """A few iterations of RetinaNet-EMO-2M through mmdet's own train.py
    and of DeepLabv3-EMO-2M through mmseg's, configs unchanged.  After three
    iterations every RetinaNet score is below the 0.05 threshold (focal-loss
    heads start at a 0.01 prior): it is lifted for COCO evaluation."""
    det = run_stock('mmdet', 'train.py', RETINANET_TOY, '--work-dir',
                    tmp_path / 'det', '--cfg-options', 'train_cfg.max_epochs=1',
                    'train_cfg.val_interval=1',
                    'train_dataloader.dataset.indices=12',
                    'val_dataloader.dataset.indices=8',
                    'model.test_cfg.score_thr=0.0', cwd=toy_workspace)
    assert det.returncode == 0, det.stderr[-3000:]
    log = next((tmp_path / 'det').glob('*/*.log')).read_text()
    assert re.search(r'Epoch\(train\) +\[1\]\[3/3\]', log)
    assert 0.0 <= last_val_metrics(tmp_path / 'det')['coco/bbox_mAP'] <= 1
    seg = run_stock('mmseg', 'train.py', SEG_TOY, '--work-dir',
                    tmp_path / 'seg', '--cfg-options', 'train_cfg.max_iters=4',
                    'train_cfg.val_interval=4',
                    'val_dataloader.dataset.indices=4', cwd=toy_workspace)
    assert seg.returncode == 0, seg.stderr[-3000:]
    assert (tmp_path / 'seg' / 'iter_4.pth').exists()
    assert 'mIoU' in last_val_metrics(tmp_path / 'seg')


# ------------------------------------------------ deterministic resuming
SUBSET = ['train_dataloader.dataset.dataset.indices=32',
          'val_dataloader.dataset.indices=8', 'train_cfg.max_epochs=2',
          'train_cfg.val_interval=2']


def kill_after_first_checkpoint(config, work_dir, options, cwd, timeout):
    """Start training, SIGKILL it once a checkpoint is on disk."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / 'tools' / 'train.py'), str(config),
         '--work-dir', str(work_dir), '--cfg-options', *options],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED='1'))
    deadline = time.time() + timeout
    try:
        while not (work_dir / 'last_checkpoint').exists():
            if proc.poll() is not None:
                raise AssertionError('training ended before a checkpoint: '
                                     + proc.stderr.read().decode()[-3000:])
            assert time.time() < deadline, 'no checkpoint in time'
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return (work_dir / 'last_checkpoint').read_text().strip()


def final_weights(work_dir):
    checkpoint = torch.load(work_dir / 'epoch_2.pth', weights_only=False)
    return checkpoint['state_dict']


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{len(different)} tensors differ: {different[:3]}'


@pytest.fixture(scope='module')
def uninterrupted(toy_workspace, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    train(DET_TOY, work_dir, toy_workspace, *SUBSET)
    return final_weights(work_dir)


def test_killed_training_resumes_to_the_same_weights(uninterrupted,
                                                     toy_workspace, tmp_path):
    first = kill_after_first_checkpoint(DET_TOY, tmp_path, SUBSET,
                                        toy_workspace, timeout=600)
    assert first.endswith('epoch_1.pth')
    resumed = run_tool('train.py', DET_TOY, '--work-dir', tmp_path,
                       '--resume', '--cfg-options', *SUBSET,
                       cwd=toy_workspace)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'resuming from {first}' in resumed.stdout
    log = sorted(tmp_path.glob('*/*.log'))[-1].read_text()
    assert 'resumed epoch: 1' in log
    assert_same_weights(final_weights(tmp_path), uninterrupted)


@pytest.mark.slow
def test_damaged_newest_checkpoint_falls_back_to_previous(
        uninterrupted, toy_workspace, tmp_path):
    """A crash while saving epoch 2 (a truncated file) after epoch 1 was
    saved: --resume says so, continues from epoch 1 and ends as if nothing
    had happened."""
    train(DET_TOY, tmp_path, toy_workspace, *SUBSET)
    newest = tmp_path / 'epoch_2.pth'
    newest.write_bytes(newest.read_bytes()[:100_000])
    resumed = run_tool('train.py', DET_TOY, '--work-dir', tmp_path,
                       '--resume', '--cfg-options', *SUBSET,
                       cwd=toy_workspace)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'warning: checkpoint {newest} is damaged' in resumed.stderr
    assert f'resuming from {tmp_path / "epoch_1.pth"}' in resumed.stdout
    assert_same_weights(final_weights(tmp_path), uninterrupted)


# ------------------------------------------------------------ distributed
def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_two_process_training_with_torchrun(toy_workspace, tmp_path):
    """tools/dist_train.sh and dist_test.sh (torchrun + MMEngine's pytorch
    launcher) with two processes; on a CPU-only host they use gloo."""
    env = dict(os.environ, MOBILEDENSE_VENV=sys.prefix,
               PORT=str(free_port()))
    options = ['--cfg-options', 'train_dataloader.dataset.dataset.indices=16',
               'val_dataloader.dataset.indices=8',
               'model.test_cfg.score_thr=0.0']
    trained = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(DET_TOY), '2',
         '--work-dir', str(tmp_path), *options, 'train_cfg.max_epochs=1',
         'train_cfg.val_interval=1'],
        cwd=toy_workspace, env=env, capture_output=True, text=True,
        timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    # 16 images over 2 processes with 8 per batch: one iteration each.
    assert re.search(r'Epoch\(train\) +\[1\]\[1/1\]', log)
    env['PORT'] = str(free_port())
    tested = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_test.sh'), str(DET_TOY),
         str(tmp_path / 'epoch_1.pth'), '2', '--work-dir',
         str(tmp_path / 'test'), *options],
        cwd=toy_workspace, env=env, capture_output=True, text=True,
        timeout=600)
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert 'coco/bbox_mAP' in tested.stdout


@pytest.mark.slow
def test_full_toy_detection_schedule(toy_workspace, tmp_path):
    """The demo's whole schedule (about 5 minutes on 2 cores)."""
    trained = run_tool('train.py', DET_TOY, '--work-dir', tmp_path,
                       cwd=toy_workspace)
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = last_val_metrics(tmp_path)
    print(f'\ntoy SSDLite-EMO-2M after 8 epochs: COCO bbox mAP '
          f'{metrics["coco/bbox_mAP"]:.3f}')
    assert metrics['coco/bbox_mAP'] >= 0.10
