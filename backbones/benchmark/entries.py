"""What a benchmark times: one :class:`Entry` per model and mode.

A SPEC is a config (``configs/x.py``: a detector or segmentor's network,
or with ``backbone_only`` its backbone), ``backbone:TYPE:ARCH[:k=v,...]``
(one of ours) or ``python:MODULE:FUNCTION[:ARG]`` (any ``nn.Module`` that
``FUNCTION(ARG)`` returns, e.g. another implementation to compare with).

Modes of networks (no pre- or post-processing): ``eager`` and ``deploy``
(PyTorch, BatchNorm folded for deploy) and ``BACKEND-network`` (the deploy
network converted as ``tools/deploy.py`` converts it, static size, fp32,
run by that runtime's session: ``onnxruntime-network``,
``openvino-network``, ``ncnn-network``, ``mnn-network``,
``executorch-network``, ``litert-network``).  End to end (an
image to boxes or masks), configs only: ``eager`` and ``deploy`` through
mmdet's / mmseg's inference API, and ``artefact:BACKEND[-int8]``, the
artefacts ``tools/deploy.py`` writes, run by :mod:`backbones.runtime`.
"""
import copy
import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..analysis import RawForward, flop_analyzer
from ..config import (build_backbone, build_model, check_channels,
                      load_config, test_input_shape, test_resize_step)
from ..errors import UsageError
from ..export.onnx import FlatOutputs
from ..runtime.sessions import BACKENDS, open_session

NETWORK_MODES = ('eager', 'deploy') + tuple(f'{backend}-network'
                                            for backend in BACKENDS)
ARTEFACT_MODES = tuple(f'artefact:{backend}{precision}' for backend in
                       BACKENDS for precision in ('', '-int8'))


def mode_backend(mode: str) -> Optional[str]:
    """The runtime a mode runs on (``ncnn-network``, ``artefact:ncnn-int8``:
    ``ncnn``); None for eager and deploy."""
    if mode.endswith('-network'):
        return mode[:-len('-network')]
    if mode.startswith('artefact:'):
        return mode[len('artefact:'):].partition('-')[0]
    return None


@dataclass
class Settings:
    """What to time and how (``tools/benchmark.py``'s options)."""
    specs: List[str]
    sizes: Optional[List[int]] = None  # square sizes
    shape: Optional[Tuple[int, int]] = None
    modes: Sequence[str] = ('eager', )
    end_to_end: bool = False
    batch: int = 1
    threads: int = 0  # 0: the default of torch and the runtimes
    reps: int = 20
    warmup: int = 3
    rewarm: int = 1  # untimed calls before each timed one in a round
    device: str = 'cpu'
    fp16: bool = False
    backbone_only: bool = False
    python_path: Sequence[str] = field(default_factory=list)
    cfg_options: Optional[dict] = None
    profile: bool = False  # the runtimes' profilers, per operator type
    # time only once the float32 matmul rate reaches this (MAC/s): on a
    # shared VM the neighbours come and go
    quiet_rate: Optional[float] = None
    quiet_timeout: float = 1800.0  # seconds; then timed anyway, and said so
    # end to end: trained weights and a real image give the detector's real
    # NMS load (random weights keep max_per_img boxes, at NMS's busiest)
    checkpoint: Optional[str] = None
    image: Optional[str] = None


class Entry:
    """One model under one mode, with its input and timings."""

    def __init__(self, name: str, mode: str, module, inputs, macs,
                 profiled=None):
        """``profiled()``: a new callable like ``module`` whose runtime
        profiles (``.session.op_times()``); None where there is none."""
        self.name, self.mode, self.module = name, mode, module
        self.inputs, self.macs, self.profiled = inputs, macs, profiled
        self.times: List[float] = []
        self.outputs = None
        self.op_times = None  # {op type: seconds per call}, once profiled

    def __call__(self):
        return self.module(self.inputs)


def build_spec(spec: str, settings: Settings):
    """``(display name, eval-mode module, default (H, W))`` of a SPEC."""
    if spec.startswith('backbone:'):
        module = build_backbone(spec[len('backbone:'):])
        return spec[len('backbone:'):], module.eval(), (224, 224)
    if spec.startswith('python:'):
        parts = spec.split(':', 3)
        if len(parts) < 3:
            raise UsageError(f'{spec!r}: a python spec is '
                             f'python:MODULE:FUNCTION[:ARG]')
        sys.path[:0] = [p for p in settings.python_path if p not in sys.path]
        try:
            factory = getattr(importlib.import_module(parts[1]), parts[2])
        except (ImportError, AttributeError) as err:
            raise UsageError(f'{spec!r}: {err}') from err
        module = factory(parts[3]) if len(parts) > 3 else factory()
        if not isinstance(module, nn.Module):
            raise UsageError(f'{spec!r} returned a '
                             f'{type(module).__name__}, not a module')
        module.eval()  # some official models' train() returns None
        return spec[len('python:'):], module, (224, 224)
    cfg = load_config(spec, settings.cfg_options)
    check_channels(cfg)
    model = build_model(cfg).eval()
    module = model.backbone if settings.backbone_only else RawForward(model)
    module.eval()  # mmdet's MobileNetV2.train() returns None
    name = os.path.splitext(os.path.basename(spec))[0]
    return name, module, tuple(test_input_shape(cfg))


def deployed(module: nn.Module) -> nn.Module:
    """A deploy-mode copy of ``module``."""
    from ..models.folding import switch_model_to_deploy
    return switch_model_to_deploy(copy.deepcopy(module))


class NetworkRunner:
    """``module`` converted for ``backend`` (the export side's converter,
    fp32, the size of ``inputs``) and run by its runtime session; calls
    return torch tensors like the module's flattened outputs."""

    def __init__(self, backend: str, module: nn.Module,
                 inputs: torch.Tensor, threads: int, folder: str):
        from ..export.backends import export_backend
        self.backend, self.threads, self.folder = backend, threads, folder
        os.makedirs(folder)
        flat = FlatOutputs(module)
        with torch.no_grad():
            ndims = [o.dim() for o in flat(inputs)]
        outputs = [f'output{i}' for i in range(len(ndims))]
        self.manifest = dict(
            files=export_backend(backend).convert(
                flat, (inputs, ), self.folder, ['input'], outputs, False),
            precision='fp32', outputs=outputs,
            output_ndims=ndims,
            input=dict(name='input', size=list(inputs.shape[2:])))
        self.feed = {'input': inputs.numpy()}
        self.session = self.profiled_session(False)

    def profiled_session(self, profile: bool = True):
        return open_session(self.backend, self.folder, self.manifest,
                            self.threads, profile)

    def __call__(self, _inputs, session=None):
        return [torch.from_numpy(o) for o in
                (session or self.session).run(self.feed)]

    def profiled(self):
        session = self.profiled_session()
        runner = lambda inputs: self(inputs, session)  # noqa: E731
        runner.session = session
        return runner


def count_macs(module: nn.Module, inputs: torch.Tensor) -> Optional[int]:
    try:
        with torch.no_grad():
            return int(flop_analyzer(module, (inputs, )).total())
    except Exception:  # a peer the tracer cannot follow: no MAC column
        return None


def network_entries(settings: Settings, device,
                    scratch: str) -> List[Entry]:
    """Every SPEC at every size under every network mode; one input per
    size, shared, so outputs compare across specs.  The runtimes' models
    are written under ``scratch``."""
    if set(settings.modes) - set(NETWORK_MODES):
        raise UsageError(f'modes {", ".join(ARTEFACT_MODES)} run end to '
                         f'end (--end-to-end)')
    sizes = [tuple(settings.shape)] if settings.shape else \
        [(s, s) for s in settings.sizes] if settings.sizes else [None]
    entries, shared_inputs = [], {}
    for spec in settings.specs:
        name, module, default_size = build_spec(spec, settings)
        module = module.to(device)
        for size in sizes:
            size = size or default_size
            if size not in shared_inputs:
                generator = torch.Generator().manual_seed(len(shared_inputs))
                shared_inputs[size] = torch.randn(
                    settings.batch, 3, *size, generator=generator).to(device)
            inputs = shared_inputs[size]
            macs = count_macs(module, inputs)
            for mode in settings.modes:
                if mode == 'eager':
                    runner = module
                elif mode == 'deploy':
                    runner = deployed(module)
                else:
                    if device.type != 'cpu':
                        raise UsageError(f'{mode} runs on CPU')
                    runner = NetworkRunner(
                        mode_backend(mode), deployed(module), inputs,
                        settings.threads,
                        os.path.join(scratch, str(len(entries))))
                entries.append(Entry(
                    f'{name} {size[0]}x{size[1]}', mode, runner, inputs,
                    macs, getattr(runner, 'profiled', None)))
    return entries


def end_to_end_entries(settings: Settings, scratch: str) -> List[Entry]:
    """Image -> predictions for every config and mode, one image per size
    (a random one: untrained weights find boxes anywhere); the artefacts
    are written under ``scratch``."""
    import numpy as np

    from ..export.artefact import deploy, leaves_size_free
    from ..export.quantize import prepared_inputs, quantizer
    from ..checkpoint import load_model_checkpoint
    from ..runtime import DeployedModel, load
    from ..runtime.preprocess import decode
    unknown = set(settings.modes) - set(ARTEFACT_MODES) - {'eager',
                                                           'deploy'}
    if unknown:
        raise UsageError(f'end to end runs eager, deploy and '
                         f'{", ".join(ARTEFACT_MODES)}, not '
                         f'{", ".join(sorted(unknown))}')
    entries = []
    rng = np.random.default_rng(0)
    for spec in settings.specs:
        cfg = load_config(spec, settings.cfg_options)
        check_channels(cfg)
        size = tuple(settings.shape) if settings.shape else \
            (settings.sizes[0], ) * 2 if settings.sizes else \
            test_input_shape(cfg)
        step = test_resize_step(cfg)  # the deployed resolution
        if step is not None:
            step['scale'], step['keep_ratio'] = size[::-1], False
        image = decode(settings.image) if settings.image else \
            rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        name = f'{os.path.splitext(os.path.basename(spec))[0]} ' \
            f'{size[0]}x{size[1]}'
        model = build_model(cfg, init_weights=True).eval()
        if settings.checkpoint:
            load_model_checkpoint(model, settings.checkpoint)
        model.cfg = cfg
        if cfg.default_scope == 'mmdet':
            from mmdet.apis import inference_detector as infer
        else:
            from mmseg.apis import inference_model as infer
        folded = deployed(model)  # one copy for the deploy mode and exports
        for mode in settings.modes:
            if mode in ('eager', 'deploy'):
                net = model if mode == 'eager' else folded
                entries.append(Entry(name, mode, lambda im, net=net: infer(
                    net, im), image, None))
                continue
            backend, int8 = mode_backend(mode), mode.endswith('-int8')
            quantize = quantizer(backend, lambda manifest: prepared_inputs(
                [rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                 for _ in range(8)], manifest),
                report=lambda line: None) if int8 else None
            folder = os.path.join(scratch, str(len(entries)))
            # as tools/deploy.py deploys it (free size for keep-ratio)
            deploy(folded, cfg, backend, folder, size, source={},
                   quantize=quantize, report=lambda line: None,
                   free_size=leaves_size_free(cfg, backend, False))
            entries.append(Entry(
                name, mode, load(folder, settings.threads), image, None,
                lambda folder=folder: DeployedModel(
                    folder, settings.threads, profile=True)))
    return entries
