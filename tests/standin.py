"""Stand-in official checkpoints built from the key manifests.

``tests/fixtures/official_keys/<arch>.json`` (a copy of the project's
reference manifests) lists every key, shape and dtype of an official release
and how the file wraps the tensors.  The
stand-ins hold deterministic random tensors with exactly those names, so a
test can check that a loader takes every tensor of the real file.
"""
import argparse
import json
import struct
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


MANIFESTS = REPO / 'tests' / 'fixtures' / 'official_keys'


def load_manifest(name: str) -> dict:
    return json.loads((MANIFESTS / f'{name}.json').read_text())


def standin_state_dict(manifest: dict, seed: int = 0) -> dict:
    """Random tensors with the manifest's names, shapes and dtypes.

    Deterministic for a seed: values are drawn in manifest order from one
    generator.  Running variances are positive, counters are integers.
    """
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, dtype in manifest['keys']:
        dtype = getattr(torch, dtype.split('.')[-1])
        if not dtype.is_floating_point:
            state[key] = torch.randint(0, 1000, shape, generator=gen,
                                       dtype=dtype)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=gen, dtype=dtype) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen, dtype=dtype) * 0.2
    return state


def wrap_like_release(manifest: dict, state: dict, wrapper: str = None):
    """Wrap a tensor dict the way the official file does (or as asked)."""
    wrapper = wrapper or manifest['official_file_wrapper']
    if wrapper == 'flat':
        return state
    if wrapper == 'model_key':
        return {'model': state}
    if wrapper == 'state_dict':
        return {'state_dict': state}
    if wrapper == 'training_ckpt':
        # The EMA copy differs from the raw one, so a test can tell which
        # of the two was loaded.
        return {'model': {k: v.clone() + 1 if v.is_floating_point() else v
                          for k, v in state.items()},
                'model_ema': state,
                'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]},
                'epoch': 299, 'scaler': {'scale': 65536.0},
                'args': argparse.Namespace(model='edgenext', lr=6e-3)}
    raise ValueError(f'unknown wrapper {wrapper}')


MXNET_FLAGS = {np.dtype(np.float32): 0, np.dtype(np.float64): 1,
               np.dtype(np.float16): 2, np.dtype(np.uint8): 3,
               np.dtype(np.int32): 4, np.dtype(np.int8): 5,
               np.dtype(np.int64): 6}


def write_mxnet_params(path, arrays: dict) -> None:
    """Write ``{name: tensor}`` as ``mx.nd.save`` does (a Gluon ``.params``
    file; layout in ``backbones/mxnet_params.py``)."""
    with open(path, 'wb') as handle:
        handle.write(struct.pack('<QQQ', 0x112, 0, len(arrays)))
        for value in arrays.values():
            array = np.ascontiguousarray(torch.as_tensor(value).numpy())
            handle.write(struct.pack('<Iii', 0xF993FAC9, 0, array.ndim))
            handle.write(struct.pack(f'<{array.ndim}q', *array.shape))
            handle.write(struct.pack('<iii', 1, 0, MXNET_FLAGS[array.dtype]))
            handle.write(array.tobytes())
        handle.write(struct.pack('<Q', len(arrays)))
        for name in arrays:
            encoded = name.encode('utf-8')
            handle.write(struct.pack('<Q', len(encoded)) + encoded)


def save_standin(tmp_path: Path, name: str, wrapper: str = None,
                 seed: int = 0, transform=None) -> Path:
    """Write a stand-in release file; ``transform`` may corrupt the dict."""
    manifest = load_manifest(name)
    state = standin_state_dict(manifest, seed)
    if transform is not None:
        state = transform(state)
    wrapper = wrapper or manifest['official_file_wrapper']
    if wrapper == 'mxnet_params':
        path = tmp_path / f'{name}.params'
        write_mxnet_params(path, state)
        return path
    path = tmp_path / f'{name}_{wrapper}.pth'
    torch.save(wrap_like_release(manifest, state, wrapper), path)
    return path
