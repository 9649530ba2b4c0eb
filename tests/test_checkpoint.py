"""Loading pretrained weights: layouts, wrappers, corruption, pickles."""
import argparse
import subprocess
import sys

import numpy as np
import pytest
import torch

from backbones import EMO
from backbones.checkpoint import (CheckpointError, CheckpointLayoutError,
                                  NotACheckpointError,
                                  UntrustedCheckpointError, load_file)
from helpers import REPO
from standin import load_manifest, save_standin, standin_state_dict


def build_pretrained(arch, path, **kwargs):
    model = EMO(arch, init_cfg=dict(type='Pretrained', checkpoint=str(path)),
                **kwargs)
    model.init_weights()
    return model


def assert_holds(model, official_state):
    """Every backbone tensor of the official dict is in the model."""
    converted, dropped = type(model).convert_official(official_state)
    own = model.state_dict()
    assert set(converted) == set(own)
    for key, value in converted.items():
        assert torch.equal(own[key], value), key
    return dropped


@pytest.mark.parametrize('wrap', [
    lambda sd: {'state_dict': sd},
    lambda sd: {'model': sd},
    lambda sd: {'state_dict': {f'backbone.{k}': v for k, v in sd.items()}},
    lambda sd: {f'module.{k}': v for k, v in sd.items()},
], ids=['state_dict', 'model', 'backbone-prefix', 'module-prefix'])
def test_wrapped_official_weights_load(tmp_path, wrap):
    official = standin_state_dict(load_manifest('emo_1m'))
    path = tmp_path / 'wrapped.pth'
    torch.save(wrap(official), path)
    assert_holds(build_pretrained('1M', path), official)


def test_own_full_detector_checkpoint_loads_backbone_part(tmp_path):
    source = EMO('1M')
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['neck.conv.weight'] = torch.zeros(3)
    state['bbox_head.cls.weight'] = torch.zeros(3)
    path = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {'epoch': 1}, 'state_dict': state,
                'message_hub': {'runtime_info': {'iter': np.int64(5)}}}, path)
    model = build_pretrained('1M', path)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_prefix_of_pretrained_init_cfg(tmp_path):
    source = EMO('1M')
    path = tmp_path / 'full.pth'
    torch.save({'state_dict': {f'model.encoder.{k}': v
                               for k, v in source.state_dict().items()}},
               path)
    model = EMO('1M', init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                    prefix='model.encoder.'))
    model.init_weights()
    assert torch.equal(model.layers[0][0].conv.weight,
                       source.layers[0][0].conv.weight)


def corrupt_rename(state):
    state['stage3.1.qk.conv.weight_renamed'] = state.pop(
        'stage3.1.qk.conv.weight')
    return state


def corrupt_shape(state):
    state['stage2.0.v.conv.weight'] = torch.zeros(7, 7, 1, 1)
    return state


@pytest.mark.parametrize('corrupt, expected', [
    (corrupt_rename, ['1 missing keys: layers.3.1.qk.conv.weight',
                      '1 unexpected keys: layers.3.1.qk.conv.weight_renamed']),
    (corrupt_shape, ['1 shape mismatches: layers.2.0.v.conv.weight '
                     '(7, 7, 1, 1) vs (160, 32, 1, 1)']),
], ids=['renamed-key', 'wrong-shape'])
def test_corrupted_release_fails_clearly_and_loads_nothing(
        tmp_path, corrupt, expected):
    path = save_standin(tmp_path, 'emo_1m', transform=corrupt)
    model = EMO('1M', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointLayoutError) as info:
        model.init_weights()
    message = str(info.value)
    assert 'matches no known EMO layout; nothing was loaded' in message
    assert 'official EMO release' in message
    for line in expected:
        assert line in message
    assert all(torch.equal(v, before[k])
               for k, v in model.state_dict().items())


def test_other_architecture_fails_clearly(tmp_path):
    path = save_standin(tmp_path, 'emo_6m')
    with pytest.raises(CheckpointLayoutError, match='shape mismatches'):
        build_pretrained('1M', path)


def test_not_a_state_dict_fails_clearly(tmp_path):
    path = tmp_path / 'odd.pth'
    torch.save({'epoch': 3, 'notes': 'nothing here'}, path)
    with pytest.raises(NotACheckpointError, match='holds no tensor dict'):
        build_pretrained('1M', path)
    with pytest.raises(CheckpointError, match='checkpoint not found'):
        build_pretrained('1M', tmp_path / 'missing.pth')


class Payload:
    """Any class outside the allow-list; unpickling it could run code."""

    def __init__(self):
        self.value = 1


def test_untrusted_pickle_is_refused_unless_opted_in(tmp_path, monkeypatch):
    path = tmp_path / 'payload.pth'
    torch.save({'weights': torch.ones(1), 'extra': Payload()}, path)
    with pytest.raises(UntrustedCheckpointError, match='Payload') as info:
        load_file(str(path))
    assert 'MOBILEDENSE_UNSAFE_LOAD=1' in str(info.value)
    monkeypatch.setenv('MOBILEDENSE_UNSAFE_LOAD', '1')
    assert load_file(str(path))['extra'].value == 1


class GetattrPayload:
    """Pickles as ``getattr(argparse.Namespace, '__init__')``."""

    def __reduce__(self):
        return getattr, (argparse.Namespace, '__init__')


def test_getattr_is_limited_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': GetattrPayload()}, path)
    with pytest.raises(UntrustedCheckpointError, match='refusing getattr'):
        load_file(str(path))


@pytest.mark.train
def test_mmengine_checkpoint_contents_load_with_weights_only(tmp_path):
    """What mmengine writes (HistoryBuffer logs, numpy values, a Namespace
    as in EdgeNeXt releases) loads once our fixes are imported, and only
    then."""
    path = tmp_path / 'mmengine_like.pth'
    script = f'''
import sys, numpy as np, torch, argparse
from mmengine.logging import MessageHub
hub = MessageHub.get_instance('t')
for v in (1.0, 2.0):
    hub.update_scalar('train/loss', v)
hub.update_info('iter', np.int64(7))
torch.save({{'message_hub': hub.state_dict(), 'meta': {{'seed': np.int64(3),
            'arr': np.arange(3.0)}}, 'args': argparse.Namespace(lr=1e-3),
            'state_dict': {{'w': torch.ones(2)}}}}, {str(path)!r})
'''
    subprocess.run([sys.executable, '-c', script], check=True, cwd=REPO)
    plain = subprocess.run(
        [sys.executable, '-c', f'import torch; torch.load({str(path)!r})'],
        capture_output=True, text=True, cwd=REPO)
    assert plain.returncode != 0 and 'Weights only load failed' in \
        plain.stderr
    fixed = subprocess.run(
        [sys.executable, '-c', 'import torch, backbones.mm_fixes; '
         f'c = torch.load({str(path)!r}); '
         "print(c['message_hub']['log_scalars']['train/loss'].mean(), "
         "c['args'].lr, c['meta']['arr'].sum())"],
        capture_output=True, text=True, cwd=REPO)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.split() == ['1.5', '0.001', '3.0']
