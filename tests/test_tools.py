"""Tool behaviour and the fixes to the pinned OpenMMLab stack."""
import json
import re
import sys

import pytest
import torch

from backbones import cli
from backbones import config as mmconfig
from helpers import REPO, run_tool, save_untrained

SSDLITE_2M = REPO / 'configs' / 'ssdlite_emo_2m_coco.py'
TOY_SSDLITE = REPO / 'configs' / 'toy' / 'ssdlite_emo_2m_toy.py'


def test_ssd_head_predicts_after_fix():
    """mmdet 3.3.0's SSDHead has no loss_cls, which its predict path reads
    (open-mmlab/mmdetection#11063)."""
    pytest.importorskip('mmdet')
    from mmdet.models.dense_heads import SSDHead
    from mmengine.config import ConfigDict
    from mmengine.registry import DefaultScope

    import backbones.mm_fixes  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = SSDHead(
            num_classes=3, in_channels=(8, 8), use_depthwise=True,
            norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU6'),
            anchor_generator=dict(
                type='SSDAnchorGenerator', scale_major=False,
                strides=[16, 32], ratios=[[2], [2]], min_sizes=[32, 64],
                max_sizes=[64, 96]),
            test_cfg=ConfigDict(
                nms_pre=100, nms=dict(type='nms', iou_threshold=0.45),
                min_bbox_size=0, score_thr=0.0, max_per_img=10)).eval()
    assert head.loss_cls is None
    feats = (torch.randn(1, 8, 4, 4), torch.randn(1, 8, 2, 2))
    meta = [dict(img_shape=(64, 64), ori_shape=(64, 64),
                 scale_factor=(1.0, 1.0))]
    with torch.no_grad():
        results = head.predict_by_feat(*head(feats), batch_img_metas=meta,
                                       rescale=True)
    assert len(results[0].bboxes) == 10


def test_custom_imports_from_cfg_options_are_imported(tmp_path, monkeypatch):
    module = tmp_path / 'my_plugin_for_test.py'
    module.write_text('IMPORTED = True\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = mmconfig.load_config(str(SSDLITE_2M), {
        'custom_imports': dict(imports=['my_plugin_for_test'],
                               allow_failed_imports=False)})
    assert 'my_plugin_for_test' in sys.modules
    assert cfg.custom_imports.imports == ['my_plugin_for_test']


def test_broken_torchvision_stops_tools_with_the_fix(tmp_path):
    fake = tmp_path / 'torchvision'
    fake.mkdir()
    (fake / '__init__.py').write_text(
        "raise RuntimeError('operator torchvision::nms does not exist')\n")
    result = run_tool('train.py', SSDLITE_2M, '--work-dir', tmp_path / 'w',
                      env={'PYTHONPATH': str(tmp_path)}, timeout=300)
    assert result.returncode == 2
    assert 'torchvision::nms does not exist' in result.stderr
    assert 'pip uninstall -y torchvision' in result.stderr
    assert 'Traceback' not in result.stderr


def test_get_flops_on_a_segmentation_config():
    """mmseg 1.2.2's own get_flops.py stops with "input_shape and inputs
    cannot be both set"; ours feeds one tensor of the config's size."""
    config = REPO / 'configs' / 'deeplabv3_emo_1m_ade20k.py'
    result = run_tool('get_flops.py', config, '--shape', '256', '256',
                      timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'input: 1x3x256x256' in result.stdout
    assert re.search(r'^params: 5\.\d+ M', result.stdout, re.M)
    assert re.search(r'^FLOPs: \d+\.\d+ G \(1 multiply-add = 1 FLOP\)',
                     result.stdout, re.M)
    assert 'scaled_dot_product_attention' not in result.stdout


def test_attention_flops_equal_explicit_matmuls():
    """The fused attention and the bias-adding GEMM count as the two
    matmuls of the explicit form."""
    from backbones.analysis import flop_analyzer

    class Fused(torch.nn.Module):

        def forward(self, q, k, v, bias):
            return torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=bias)

    class Explicit(torch.nn.Module):

        def forward(self, q, k, v, bias):
            return ((q @ k.transpose(-2, -1) + bias).softmax(-1)) @ v

    class BiasInGemm(torch.nn.Module):

        def forward(self, q, k, v, bias):
            logits = torch.baddbmm(bias.flatten(0, 1), q.flatten(0, 1),
                                   k.flatten(0, 1).transpose(1, 2))
            return logits.softmax(-1) @ v.flatten(0, 1)

    inputs = (torch.randn(2, 3, 49, 16), torch.randn(2, 3, 49, 16),
              torch.randn(2, 3, 49, 20), torch.randn(2, 3, 49, 49))
    totals = [flop_analyzer(m(), inputs).total()
              for m in (Fused, Explicit, BiasInGemm)]
    assert totals == [2 * 3 * 49 * 49 * (16 + 20)] * 3


@pytest.mark.train
def test_browse_dataset_ends_on_repeat_dataset(toy_workspace, tmp_path):
    """mmdet 3.3's browse_dataset.py never ends on a RepeatDataset."""
    out = tmp_path / 'browse'
    result = run_tool('browse_dataset.py', TOY_SSDLITE, '--output-dir', out,
                      '--cfg-options', 'train_dataloader.dataset.times=5',
                      'train_dataloader.dataset.dataset.indices=6',
                      cwd=toy_workspace, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # Six underlying images, each drawn once, not 5 x 6.
    assert sorted(p.name for p in out.iterdir()) == [
        f'{i:06d}.jpg' for i in range(6)]
    assert 'wrote 6 images' in result.stdout


@pytest.mark.export
def test_benchmark_table_modes_and_agreement(tmp_path):
    """Configs, backbones and arbitrary modules timed side by side, eager,
    deploy and onnxruntime, on CPU (mmdet 3.3's benchmark.py --task
    inference requires CUDA)."""
    peer = tmp_path / 'peer_models.py'
    peer.write_text('import torch\n'
                    'def tiny(channels):\n'
                    '    return torch.nn.Conv2d(3, int(channels), 3)\n')
    out, scratch = tmp_path / 'rows.json', tmp_path / 'tmp'
    scratch.mkdir()
    result = run_tool(
        'benchmark.py', 'backbone:AsymmNet:small:widen_factor=0.35',
        'python:peer_models:tiny:8', '--python-path', tmp_path, '--modes',
        'eager', 'deploy', 'onnxruntime-network', 'openvino-network',
        '--sizes', '64', '--reps', '2', '--warmup', '1', '--threads', '1',
        '--profile', '--json', out, '--wait-quiet', '0.001',
        env=dict(TMPDIR=str(scratch)), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # the converted models are gone with the run
    assert not list(scratch.glob('benchmark-*'))
    assert 'share of matmul rate' in result.stdout
    assert 'every round timed on a quiet machine: a float32 matmul at 0 ' \
        'GMAC/s' in result.stdout
    rows = json.loads(out.read_text())['rows']
    modes = ('eager', 'deploy', 'onnxruntime-network', 'openvino-network')
    assert [(r['model'].split()[0], r['mode']) for r in rows] == [
        (m, mode) for m in ('AsymmNet:small:widen_factor=0.35',
                            'peer_models:tiny:8') for mode in modes]
    # the runtimes' own profilers, per operator type, for runtime modes
    for row in rows:
        assert (row['op_times'] is not None) == row['mode'].endswith(
            '-network'), row
    assert set(rows[-1]['op_times']) <= {'Conv', 'Convolution', 'Reorder',
                                         'ReorderInput', 'ReorderOutput'}
    assert 'Conv' in rows[-2]['op_times'] and all(
        t > 0 for t in rows[-2]['op_times'].values())
    assert '| peer_models:tiny:8 64x64 | onnxruntime-network |' in \
        result.stdout.split('Where the time goes')[1]
    for row in rows:
        assert row['median_ms'] > 0 and row['gmacs'] > 0
        assert 0 < row['matmul_share'] < 1
    # deploy and the runtimes agree with the eager model they come from
    assert rows[0]['max_rel_diff'] is None
    assert all(r['max_rel_diff'] < 1e-4 for r in rows[1:4])
    assert rows[5]['max_rel_diff'] < 1e-4 and rows[5]['vs'].startswith(
        'peer_models')


@pytest.mark.export
def test_benchmark_end_to_end_times_deployed_artefacts(tmp_path):
    """An image to boxes: eager and deploy through mmdet's inference, an
    artefact deployed on the fly and profiled by its runtime, the given
    image and checkpoint; the artefacts are gone with the run."""
    import cv2
    import numpy as np
    image, checkpoint = tmp_path / 'street.jpg', tmp_path / 'toy.pth'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(
        0, 256, (96, 160, 3), dtype=np.uint8))
    save_untrained(TOY_SSDLITE, checkpoint)
    out, scratch = tmp_path / 'rows.json', tmp_path / 'tmp'
    scratch.mkdir()
    result = run_tool(
        'benchmark.py', TOY_SSDLITE, '--end-to-end', '--modes', 'eager',
        'deploy', 'artefact:onnxruntime', '--sizes', '128', '--image', image,
        '--checkpoint', checkpoint, '--reps', '2', '--warmup', '1',
        '--threads', '1', '--profile', '--json', out,
        env=dict(TMPDIR=str(scratch)), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not list(scratch.glob('benchmark-*'))
    rows = json.loads(out.read_text())['rows']
    assert [(r['model'], r['mode']) for r in rows] == [
        ('ssdlite_emo_2m_toy 128x128', mode)
        for mode in ('eager', 'deploy', 'artefact:onnxruntime')]
    assert all(r['median_ms'] > 0 for r in rows)
    # the artefact's own profiler: the network's convolutions and whatever
    # the deployed graph does after them, nothing for the PyTorch modes
    assert [r['op_times'] is None for r in rows] == [True, True, False]
    assert 'Conv' in rows[2]['op_times']
    assert '| ssdlite_emo_2m_toy 128x128 | artefact:onnxruntime |' in \
        result.stdout.split('Where the time goes')[1]


def test_quiet_gate_times_a_round_again_when_the_machine_got_busy(
        monkeypatch):
    """--wait-quiet: a round after which the matmul rate fell is thrown
    away and timed again; once the wait is out of time, rounds are kept as
    they come and the header says how many were not quiet."""
    from backbones.benchmark import timing
    from backbones.benchmark.entries import Entry, Settings
    cpu = torch.device('cpu')
    # samples: 2 quiet before round 1, busy after it (round thrown away),
    # 2 quiet before its retry, quiet after; 2 + 1 for round 2
    rates = iter([9, 9, 1, 9, 9, 9, 9, 9, 9])
    monkeypatch.setattr(timing, 'matmul_rate',
                        lambda device, typical=False: next(rates))
    calls = []
    entry = Entry('m', 'eager', calls.append, 'x', None)
    gate = timing.QuietGate(cpu, 5, timeout=60, samples=2, pause=0)
    timing.time_entries([entry], Settings([], reps=2, warmup=0, rewarm=0),
                        cpu, gate)
    assert len(calls) == 1 + 3 and len(entry.times) == 2
    assert next(rates, None) is None  # every sample was taken
    assert gate.summary().startswith(
        'every round timed on a quiet machine: a float32 matmul at 0 GMAC/s'
        ' or more (median of 8) 2 times in a row before each round and once'
        ' after it (rounds timed again: 1;')
    # no CPU does 10^18 MAC/s: the timeout ends the wait, and it is said
    monkeypatch.undo()
    busy = timing.QuietGate(cpu, 1e18, timeout=0.01, pause=0)
    entry.times.clear()
    timing.time_entries([entry], Settings([], reps=2, warmup=0, rewarm=0),
                        cpu, busy)
    assert len(entry.times) == 2
    assert busy.summary().startswith('NOT QUIET: 2 of 2 rounds kept '
                                     'without a float32 matmul at '
                                     '1000000000 GMAC/s')


def profiled_entry(seconds_per_call, times=()):
    """An entry whose n-th profile's layers take ``seconds_per_call[n]``
    a call, like a runtime session's ``op_times``; returns it and the
    iterator of the profiles not taken."""
    from backbones.benchmark.entries import Entry
    takes = iter(seconds_per_call)

    def profiled():
        class Session:
            per_call = next(takes)
            calls = 0

            def op_times(self, skip_runs=0):
                return {'Conv': self.per_call * (self.calls - skip_runs)}
        session = Session()

        def runner(inputs):
            session.calls += 1
        runner.session = session
        return runner
    entry = Entry('m', 'openvino-network', None, 'x', None, profiled)
    entry.times = list(times)
    return entry, takes


def test_quiet_gate_holds_profiles_too(monkeypatch):
    """--wait-quiet --profile: a profile after which the matmul rate fell
    is taken again, and the kept one is the quiet one's."""
    from backbones.benchmark import timing
    from backbones.benchmark.entries import Settings
    rates = iter([9, 9, 1, 9, 9, 9])  # busy after the first profile
    monkeypatch.setattr(timing, 'matmul_rate',
                        lambda device, typical=False: next(rates))
    entry, takes = profiled_entry([1.0, 2.0, 3.0])
    gate = timing.QuietGate(torch.device('cpu'), 5, timeout=60, samples=2,
                            pause=0)
    again = timing.profile_entries([entry], Settings([], reps=2, warmup=0),
                                   gate)
    assert again == 1 and next(takes) == 3.0  # two profiles taken
    assert entry.op_times == {'Conv': 2.0}  # the second profile's
    assert next(rates, None) is None


def test_profile_slower_than_the_timed_calls_is_taken_again(monkeypatch):
    """--wait-quiet --profile: a profile whose operators sum to more than
    PROFILE_SLACK times the entry's median call (a neighbour the matmul
    samples missed) is taken again, at most PROFILE_TAKES times, and the
    least take is kept; one within the slack is kept at once."""
    from backbones.benchmark import timing
    from backbones.benchmark.entries import Settings
    monkeypatch.setattr(timing, 'matmul_rate',
                        lambda device, typical=False: 9)  # always quiet
    timed = [1.0, 1.1, 0.9]  # median 1 s a call
    slow_then_steady, takes = profiled_entry([2.0, 1.05, 9.0], timed)
    always_slow, _ = profiled_entry([2.0, 1.6, 1.9, 9.0], timed)
    steady, _ = profiled_entry([1.2, 9.0], timed)
    gate = timing.QuietGate(torch.device('cpu'), 5, timeout=60, samples=1,
                            pause=0)
    again = timing.profile_entries([slow_then_steady, always_slow, steady],
                                   Settings([], reps=2, warmup=1), gate)
    assert slow_then_steady.op_times == pytest.approx({'Conv': 1.05})
    assert next(takes) == 9.0  # no third take
    assert always_slow.op_times == pytest.approx({'Conv': 1.6})
    assert steady.op_times == pytest.approx({'Conv': 1.2})
    assert again == 1 + 2


def test_activation_probe_swaps_smooth_activations_for_relu():
    """docs/probes: the what-if network of docs/speed.md's activation
    measurement has ReLU where the config's network has SiLU and GELU,
    and is otherwise the same network."""
    sys.path.insert(0, str(REPO / 'docs' / 'probes'))
    try:
        from activation_probes import relu_for_every_activation, \
            relu_for_silu
    finally:
        sys.path.remove(str(REPO / 'docs' / 'probes'))
    config = str(REPO / 'configs' / 'ssdlite_emo_1m_coco.py')

    def kinds(network):
        return {type(m).__name__ for m in network.modules()}
    silu_only, every = relu_for_silu(config), relu_for_every_activation(config)
    assert {'ReLU', 'GELU'} <= kinds(silu_only) and 'SiLU' not in \
        kinds(silu_only)
    assert 'ReLU' in kinds(every) and not {'SiLU', 'GELU', 'ErfGELU'} & \
        kinds(every)
    from backbones.export.onnx import flatten_outputs
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        shapes = [[o.shape for o in flatten_outputs(network(x))]
                  for network in (silu_only, every)]
    assert shapes[0] == shapes[1] and len(shapes[0]) == 12  # 6 levels


def test_profile_layout_share_uses_each_runtimes_names():
    """ncnn's Split hands a blob on without a copy and its transpose is
    Permute: the same profile is a different layout share there than in
    onnxruntime, where Split slices."""
    from backbones.benchmark import profile_markdown
    times = {'Split': 1e-3, 'Permute': 2e-3, 'Conv': 5e-3}
    rows = [dict(model='m', mode=mode, op_times=times) for mode in (
        'ncnn-network', 'artefact:ncnn', 'onnxruntime-network',
        'artefact:onnxruntime-int8')]
    shares = re.findall(r'\| 8\.00 \| ([\d.]+)% \|', profile_markdown(rows))
    assert shares == ['25.0', '25.0', '12.5', '12.5']


@pytest.mark.train
def test_benchmark_train_split_on_real_data(toy_workspace):
    result = run_tool('benchmark.py', TOY_SSDLITE, '--train', '--batch', '2',
                      '--reps', '2', '--warmup', '1', '--cfg-options',
                      'model.backbone.arch=1M',
                      'model.neck.in_channels=[80,168]',
                      'model.neck.out_channels=[80,168,512,256,256,128]',
                      'model.bbox_head.in_channels=[80,168,512,256,256,128]',
                      cwd=toy_workspace, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'RepeatDataset of CocoDataset with 2 workers' in result.stdout
    shares = re.findall(r'^  (data|forward \+ loss|backward|optimizer) +'
                        r'[\d.]+ ms +([\d.]+)%', result.stdout, re.M)
    assert [name for name, _ in shares] == ['data', 'forward + loss',
                                            'backward', 'optimizer']
    assert sum(float(share) for _, share in shares) == pytest.approx(100,
                                                                     abs=1)


@pytest.mark.train
def test_unsafe_load_opts_in_to_a_checkpoint_the_allow_list_refuses(
        toy_workspace, tmp_path):
    """--unsafe-load is the explicit opt-in for a trusted file holding other
    objects (the refusal without it: test_bad_inputs.py's
    checkpoint-runs-code, test_checkpoint.py's allow-list)."""
    import datetime

    checkpoint = tmp_path / 'foreign.pth'
    save_untrained(TOY_SSDLITE, checkpoint)
    content = torch.load(checkpoint)
    content['meta']['saved_on'] = datetime.date(2026, 11, 22)
    torch.save(content, checkpoint)
    loaded = run_tool('test.py', TOY_SSDLITE, checkpoint, '--work-dir',
                      tmp_path / 'b', '--unsafe-load', '--cfg-options',
                      'test_dataloader.dataset.indices=4',
                      'test_evaluator.ann_file=data/toy_coco/annotations/'
                      'instances_val2017.json',
                      cwd=toy_workspace, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert 'metrics json' in loaded.stdout


def test_resume_skips_damaged_and_best_checkpoints(tmp_path):
    for name in ('epoch_1.pth', 'epoch_2.pth', 'epoch_10.pth',
                 'best_coco_bbox_mAP_epoch_10.pth'):
        torch.save({'state_dict': {'w': torch.ones(3)}}, tmp_path / name)
    damaged = tmp_path / 'epoch_10.pth'
    damaged.write_bytes(damaged.read_bytes()[:300])
    (tmp_path / 'last_checkpoint').write_text(str(damaged))
    reports = []
    assert cli.latest_good_checkpoint(str(tmp_path), reports.append) == \
        str(tmp_path / 'epoch_2.pth')  # 2 < 10 by number, not by name
    assert reports == [f'warning: checkpoint {damaged} is damaged (File is '
                       f'not a zip file); trying the previous one']
    assert cli.latest_good_checkpoint(str(tmp_path / 'none')) is None


def test_backbone_spec_keeps_numeric_arch_names():
    levit = mmconfig.build_backbone('LeViT:128:out_indices=4')
    assert levit.out_channels == (384, )
    asymmnet = mmconfig.build_backbone('AsymmNet:small:widen_factor=0.5')
    assert asymmnet.widen_factor == 0.5


def test_coco_scale_set_is_valid_and_its_check_is_timed(tmp_path, capsys):
    """The generated COCO-scale set (here 40 images) passes the annotation
    check, so the timing measures a full check, not an early refusal."""
    from backbones.data.toy import write_coco_scale
    from backbones.data.validate import check_coco
    from helpers import tool_main
    ann_file = write_coco_scale(tmp_path / 'set', 40, 300)
    found = check_coco(str(ann_file), str(tmp_path / 'set' / 'train2017'))
    assert not found.counts
    content = json.loads(ann_file.read_text())
    assert (len(content['images']), len(content['annotations'])) == (40, 300)
    tool_main('time_data_check.py')(['--images', '40', '--annotations',
                                     '300', '--root', str(tmp_path / 't')])
    out = capsys.readouterr().out
    assert re.search(r'check 2: [\d.]+ s .*refused: nothing', out), out
