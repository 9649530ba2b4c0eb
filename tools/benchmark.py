"""Time models side by side: configs, backbones, or any PyTorch model.

    python tools/benchmark.py SPEC [SPEC ...] [--sizes S [S ...] | --shape H W]
        [--modes eager deploy onnx] [--batch N] [--threads N] [--reps N]
        [--warmup N] [--device cpu|cuda] [--fp16] [--backbone-only]
        [--json OUT.json] [--write-readme NAME] [--python-path DIR]
    python tools/benchmark.py CONFIG --train [--batch N] [--iters N]

A SPEC is one of

* ``configs/x.py``: a detector or segmentor, forward without data
  preprocessing or post-processing (no NMS), at the config's test size unless
  ``--sizes``/``--shape`` say otherwise; ``--backbone-only`` times its
  backbone;
* ``backbone:TYPE:ARCH[:key=value,...]``: one of our backbones, e.g.
  ``backbone:EMO:1M`` or ``backbone:AsymmNet:small:widen_factor=0.5``;
* ``python:MODULE:FUNCTION[:ARG]``: whatever ``FUNCTION(ARG)`` returns (an
  ``nn.Module``), e.g. another implementation to compare with, importable
  from ``--python-path`` (it is never imported otherwise).

Every model and mode is timed in the same process, one call of each in turn
(batch 1 by default, ``torch.inference_mode``): warm-up, then ``--reps``
rounds, each timing every entry once after ``--rewarm`` untimed calls (the
steady-state latency of a model that runs repeatedly, not of one whose
weights the previous model pushed out of the caches); the table gives the
median and minimum milliseconds, images/s, multiply-accumulates (mmengine's
counter, as ``tools/get_flops.py``), the achieved MAC rate as a share of
this machine's float32 matrix-multiply rate (measured in the same run), and
the largest difference of each output from the first model with the same
output shapes (relative to that output's largest value).  ``deploy`` is
the model after ``switch_to_deploy`` (BatchNorm folded); ``onnx`` runs the
exported deploy model in onnxruntime with the same threads.

``--train`` times training steps of a config instead and splits each one
into data loading (the config's train dataloader when its data exist, else a
synthetic batch), forward with loss, backward and optimizer step.  Speed is
printed, never asserted; mmdet 3.3's own ``benchmark.py --task inference``
needs CUDA, this runs anywhere.
"""
import copy
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import List, Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from backbones import cli
from backbones.analysis import RawForward, flop_analyzer, test_input_shape
from backbones.data.synthetic import synthetic_batch
from backbones.export.onnx import (FlatOutputs, export_module,
                                   flatten_outputs, relative_differences)

MODES = ('eager', 'deploy', 'onnx')
# --end-to-end: PyTorch (eager, deploy) through mmdet's / mmseg's inference
# API, and artefacts of tools/deploy.py, each from image to predictions
ARTEFACT_MODES = ('onnxruntime', 'openvino', 'ncnn', 'onnxruntime-int8',
                  'openvino-int8')


def parse_args(argv=None):
    parser = cli.ArgumentParser(
        description='Time models side by side (or training steps)')
    parser.add_argument('specs', nargs='+', metavar='SPEC')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--sizes', type=cli.positive_int, nargs='+',
                      metavar='S',
                      help='square input sizes (default: the config test '
                      'size, 224 for backbones)')
    size.add_argument('--shape', type=cli.positive_int, nargs=2,
                      metavar=('H', 'W'))
    parser.add_argument('--modes', nargs='+',
                        choices=MODES + ARTEFACT_MODES, default=['eager'])
    parser.add_argument('--end-to-end', action='store_true',
                        help='configs from an image to boxes or masks: '
                        'eager/deploy through mmdet/mmseg inference, '
                        'artefact modes deployed on the fly (random '
                        'weights; int8 calibrated on random images)')
    parser.add_argument('--batch', type=cli.positive_int,
                        help="images per call (default 1; with --train the "
                        "config's training batch size)")
    parser.add_argument('--threads', type=cli.positive_int,
                        help='CPU threads (default: torch default)')
    parser.add_argument('--reps', '--iters', type=cli.positive_int,
                        default=20, dest='reps')
    parser.add_argument('--warmup', type=cli.non_negative_int, default=3)
    parser.add_argument('--rewarm', type=cli.non_negative_int, default=1,
                        help='untimed calls before each timed one in a '
                        'round (without them a model is timed with the '
                        "previous model's weights in the caches)")
    parser.add_argument('--device', default='cuda' if
                        torch.cuda.is_available() else 'cpu')
    parser.add_argument('--fp16', action='store_true',
                        help='autocast to float16 (CUDA only)')
    parser.add_argument('--backbone-only', action='store_true',
                        help="time a config's backbone alone")
    parser.add_argument('--train', action='store_true',
                        help="time a config's training steps instead")
    parser.add_argument('--json', metavar='OUT', help='also write the rows')
    parser.add_argument('--write-readme', metavar='NAME',
                        help='replace the README block <!-- speed-NAME:start '
                        '--> ... <!-- speed-NAME:end --> with the table')
    parser.add_argument('--python-path', action='append', default=[],
                        metavar='DIR', help='where python: specs import from')
    cli.add_common_args(parser)
    return parser.parse_args(argv)


class Entry:
    """One model under one mode, with its input and timings."""

    def __init__(self, name: str, mode: str, module, inputs: torch.Tensor,
                 macs: Optional[int]):
        self.name, self.mode, self.module = name, mode, module
        self.inputs, self.macs = inputs, macs
        self.times: List[float] = []
        self.outputs = None

    def __call__(self):
        return self.module(self.inputs)


def build_spec(spec: str, args):
    """``(display name, eval-mode module, default (H, W))`` of a SPEC."""
    if spec.startswith('backbone:'):
        module = cli.build_backbone(spec[len('backbone:'):])
        return spec[len('backbone:'):], module.eval(), (224, 224)
    if spec.startswith('python:'):
        parts = spec.split(':', 3)
        if len(parts) < 3:
            raise cli.ToolError(f'{spec!r}: a python spec is '
                                f'python:MODULE:FUNCTION[:ARG]')
        sys.path[:0] = [p for p in args.python_path if p not in sys.path]
        try:
            factory = getattr(importlib.import_module(parts[1]), parts[2])
        except (ImportError, AttributeError) as err:
            raise cli.ToolError(f'{spec!r}: {err}')
        module = factory(parts[3]) if len(parts) > 3 else factory()
        if not isinstance(module, nn.Module):
            raise cli.ToolError(f'{spec!r} returned a '
                                f'{type(module).__name__}, not a module')
        module.eval()  # some official models' train() returns None
        return spec[len('python:'):], module, (224, 224)
    cfg = cli.load_config(spec, args.cfg_options)
    cli.check_channels(cfg)
    model = cli.build_model(cfg).eval()
    module = model.backbone if args.backbone_only else RawForward(model)
    module.eval()  # mmdet's MobileNetV2.train() returns None
    name = os.path.splitext(os.path.basename(spec))[0]
    return name, module, tuple(test_input_shape(cfg))


def deployed(module: nn.Module) -> nn.Module:
    """A deploy-mode copy of ``module``."""
    from backbones.models.folding import switch_model_to_deploy
    return switch_model_to_deploy(copy.deepcopy(module))


def onnx_runner(module: nn.Module, inputs: torch.Tensor, threads: int):
    """A callable running ``module`` exported to ONNX in onnxruntime."""
    import onnxruntime

    path = tempfile.NamedTemporaryFile(suffix='.onnx', delete=False).name
    try:
        export_module(FlatOutputs(module), inputs, path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle onnxruntime threads spin for a while after each run, taking
        # the cores from whichever model is timed next.
        options.add_session_config_entry('session.intra_op.allow_spinning',
                                         '0')
        session = onnxruntime.InferenceSession(
            path, options, providers=['CPUExecutionProvider'])
    finally:
        os.unlink(path)
    feed = {'input': inputs.numpy()}
    return lambda _: [torch.from_numpy(o) for o in session.run(None, feed)]


def count_macs(module: nn.Module, inputs: torch.Tensor) -> Optional[int]:
    try:
        with torch.no_grad():
            return int(flop_analyzer(module, (inputs, )).total())
    except Exception:  # a peer the tracer cannot follow: no MAC column
        return None


def matmul_rate(device: torch.device, dtype=torch.float32) -> float:
    """Multiply-accumulates per second of a 1024^3 matrix product here."""
    a = torch.randn(1024, 1024, device=device, dtype=dtype)
    b = torch.randn(1024, 1024, device=device, dtype=dtype)
    best = float('inf')
    for _ in range(8):
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 1024**3 / best


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def relative_difference(reference, outputs) -> Optional[float]:
    """Largest relative difference over all outputs; None when the outputs
    do not have the same shapes (different models)."""
    ref, out = flatten_outputs(reference), flatten_outputs(outputs)
    if len(ref) != len(out) or any(r.shape != o.shape
                                   for r, o in zip(ref, out)):
        return None
    return max(relative_differences([o.to(r.device) for r, o in
                                     zip(ref, out)], ref))


def build_entries(args, device) -> List[Entry]:
    sizes = [tuple(args.shape)] if args.shape else \
        [(s, s) for s in args.sizes] if args.sizes else [None]
    threads = torch.get_num_threads()
    entries = []
    shared_inputs = {}  # one input per size, so outputs compare across specs
    for spec in args.specs:
        name, module, default_size = build_spec(spec, args)
        module = module.to(device)
        for size in sizes:
            size = size or default_size
            if size not in shared_inputs:
                generator = torch.Generator().manual_seed(len(shared_inputs))
                shared_inputs[size] = torch.randn(
                    args.batch, 3, *size, generator=generator).to(device)
            inputs = shared_inputs[size]
            macs = count_macs(module, inputs)
            for mode in args.modes:
                if mode == 'eager':
                    runner = module
                elif mode == 'deploy':
                    runner = deployed(module)
                else:
                    if device.type != 'cpu':
                        raise cli.ToolError('--modes onnx runs on CPU')
                    runner = onnx_runner(deployed(module), inputs, threads)
                entries.append(Entry(f'{name} {size[0]}x{size[1]}', mode,
                                     runner, inputs, macs))
    return entries


def end_to_end_entries(args) -> List[Entry]:
    """Image -> predictions for every config and mode, one image per size
    (a random one: untrained weights find boxes anywhere)."""
    import numpy as np

    from backbones.analysis import test_input_shape
    from backbones.export.artefact import deploy, leaves_size_free
    from backbones.export.quantize import prepared_inputs, quantizer
    from backbones.runtime import load
    entries = []
    work = tempfile.mkdtemp(prefix='benchmark-artefacts-')
    rng = np.random.default_rng(0)
    for spec in args.specs:
        cfg = cli.load_config(spec, args.cfg_options)
        cli.check_channels(cfg)
        size = tuple(args.shape) if args.shape else \
            (args.sizes[0], args.sizes[0]) if args.sizes else \
            test_input_shape(cfg)
        for step in cfg.test_dataloader.dataset.pipeline:
            if step['type'] == 'Resize':  # the deployed resolution
                step['scale'], step['keep_ratio'] = size[::-1], False
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        name = f'{os.path.splitext(os.path.basename(spec))[0]} ' \
            f'{size[0]}x{size[1]}'
        model = cli.build_model(cfg, init_weights=True).eval()
        model.cfg = cfg
        if cfg.default_scope == 'mmdet':
            from mmdet.apis import inference_detector as infer
        else:
            from mmseg.apis import inference_model as infer
        folded = deployed(model)  # one copy for the deploy mode and exports
        for mode in args.modes:
            if mode in ('eager', 'deploy'):
                net = model if mode == 'eager' else folded
                entries.append(Entry(name, mode, lambda im, net=net: infer(
                    net, im), image, None))
                continue
            backend, _, int8 = mode.partition('-')
            quantize = quantizer(backend, lambda manifest: prepared_inputs(
                [rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                 for _ in range(8)], manifest),
                report=lambda line: None) if int8 else None
            folder = os.path.join(work, f'{len(entries)}')
            # as tools/deploy.py deploys it (free size for keep-ratio)
            deploy(folded, cfg, backend, folder, size, source={},
                   quantize=quantize, report=lambda line: None,
                   free_size=leaves_size_free(cfg, backend, False))
            entries.append(Entry(name, mode, load(folder, args.threads or 0),
                                 image, None))
    return entries


def time_entries(entries: List[Entry], args, device) -> None:
    autocast = torch.autocast('cuda', dtype=torch.float16,
                              enabled=args.fp16)
    with torch.inference_mode(), autocast:
        for entry in entries:
            entry.outputs = entry()
            if args.end_to_end:  # agreement is the tests' job here:
                entry.outputs = None  # untrained boxes tie in NMS order
            for _ in range(args.warmup):
                entry()
        for _ in range(args.reps):
            for entry in entries:  # interleaved: drift hits every model
                for _ in range(args.rewarm):  # caches hold the last model
                    entry()
                synchronize(device)
                start = time.perf_counter()
                entry()
                synchronize(device)
                entry.times.append(time.perf_counter() - start)


def table_rows(entries: List[Entry], args, rate: float) -> List[dict]:
    rows = []
    for entry in entries:
        median = statistics.median(entry.times)
        reference = next(e for e in entries if entry.outputs is None or
                         relative_difference(e.outputs, entry.outputs)
                         is not None)
        diff = None if reference is entry or entry.outputs is None else \
            relative_difference(reference.outputs, entry.outputs)
        rows.append(dict(
            model=entry.name, mode=entry.mode, batch=args.batch,
            median_ms=median * 1e3, min_ms=min(entry.times) * 1e3,
            images_per_s=args.batch / median,
            gmacs=None if entry.macs is None else entry.macs / 1e9,
            matmul_share=None if entry.macs is None else
            entry.macs / median / rate,
            max_rel_diff=diff,
            vs=None if reference is entry else reference.name + ' ' +
            reference.mode))
    return rows


def markdown(rows: List[dict], header: str) -> str:
    def fmt(value, pattern):
        return '-' if value is None else pattern.format(value)
    lines = [header, '',
             '| model | mode | ms (median) | ms (min) | images/s | GMACs | '
             'share of matmul rate | max diff vs first |',
             '|---|---|---|---|---|---|---|---|']
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['mode']} | {row['median_ms']:.1f} | "
            f"{row['min_ms']:.1f} | {row['images_per_s']:.1f} | "
            f"{fmt(row['gmacs'], '{:.2f}')} | "
            f"{fmt(row['matmul_share'], '{:.0%}')} | "
            f"{fmt(row['max_rel_diff'], '{:.1e}')} |")
    return '\n'.join(lines)


def machine(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as handle:
            cpu = next(line.split(':', 1)[1].strip() for line in handle
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{cpu}, {os.cpu_count()} cores'


def benchmark(args) -> List[dict]:
    device = torch.device(args.device)
    if args.end_to_end:
        if device.type != 'cpu':
            raise cli.ToolError('--end-to-end runs on CPU')
        entries = end_to_end_entries(args)
    else:
        if set(args.modes) & set(ARTEFACT_MODES):
            raise cli.ToolError('artefact modes need --end-to-end')
        entries = build_entries(args, device)
    rate = matmul_rate(device)
    time_entries(entries, args, device)
    rate = max(rate, matmul_rate(device))
    rows = table_rows(entries, args, rate)
    where = f'{machine(device)}; ' + (
        f'{torch.get_num_threads()} threads' if device.type == 'cpu' else
        'CUDA') + f', torch {torch.__version__}'
    header = (f'{where}; batch {args.batch}, float32 matmul '
              f'{rate / 1e9:.0f} GMAC/s; {args.reps} interleaved rounds '
              f'after {args.warmup} warm-up calls, {args.rewarm} untimed '
              f'call(s) before each timed one'
              f'{", fp16 autocast" if args.fp16 else ""}.')
    text = markdown(rows, header)
    print(text)
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(dict(machine=where, matmul_gmacs_per_s=rate / 1e9,
                           rows=rows), handle, indent=1)
    if args.write_readme:
        cli.replace_readme_block(f'speed-{args.write_readme}', text)
        print(f'updated README.md (speed-{args.write_readme})')
    return rows


def train_split(args) -> dict:
    """Seconds per training step of a config, split into parts."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import Runner
    if len(args.specs) != 1 or not args.specs[0].endswith('.py'):
        raise cli.ToolError('--train times one config')
    cfg = cli.load_config(args.specs[0], args.cfg_options)
    cli.check_channels(cfg)
    device = torch.device(args.device)
    model = cli.build_model(cfg, init_weights=True).to(device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    args.batch = args.batch or loader_cfg.batch_size
    if args.batch < 2 and any(isinstance(m, _BatchNorm)
                              for m in model.modules()):
        raise cli.ToolError(
            f'--batch {args.batch} cannot train this model: its BatchNorm '
            f'layers need more than one image (the config trains with '
            f'{loader_cfg.batch_size})')
    loader_cfg.batch_size = args.batch
    try:
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        batches = iter(loader)
        next(batches)
        dataset = loader.dataset
        inner = getattr(dataset, 'dataset', None)  # RepeatDataset etc.
        source = (f'{type(dataset).__name__}' + (
            f' of {type(inner).__name__}' if inner is not None else '') +
            f' with {loader_cfg.get("num_workers", 0)} workers')
    except (FileNotFoundError, OSError) as err:
        size = tuple(args.shape) if args.shape else (320, 320)
        batch = synthetic_batch(model, cfg.default_scope, size,
                                args.batch)
        batches = iter(lambda: batch, None)
        source = f'synthetic {size[0]}x{size[1]} batch (no data: {err})'
    parts = {'data': [], 'forward + loss': [], 'backward': [],
             'optimizer': []}
    for step in range(args.warmup + args.reps):
        times = [time.perf_counter()]
        data = next(batches)
        times.append(time.perf_counter())
        data = model.data_preprocessor(data, True)
        losses = model._run_forward(data, mode='loss')
        loss, _ = model.parse_losses(losses)
        synchronize(device)
        times.append(time.perf_counter())
        loss.backward()
        synchronize(device)
        times.append(time.perf_counter())
        optim_wrapper.step()
        optim_wrapper.zero_grad()
        synchronize(device)
        times.append(time.perf_counter())
        if step >= args.warmup:
            for part, start, end in zip(parts, times, times[1:]):
                parts[part].append(end - start)
    total = sum(statistics.median(v) for v in parts.values())
    print(f'{args.specs[0]}: training step, batch {args.batch}, {source}, '
          f'{torch.get_num_threads()} threads')
    for part, values in parts.items():
        median = statistics.median(values)
        print(f'  {part:<15} {median * 1e3:8.1f} ms  {median / total:5.1%}')
    print(f'  {"step":<15} {total * 1e3:8.1f} ms  ({args.batch / total:.1f} '
          f'images/s)')
    return {part: statistics.median(v) for part, v in parts.items()}


def main(argv=None):
    args = parse_args(argv)
    cli.preflight()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise cli.ToolError('--device cuda, but no CUDA GPU is visible')
    if args.fp16 and not args.device.startswith('cuda'):
        raise cli.ToolError('--fp16 needs a CUDA device')
    if args.train:
        return train_split(args)
    args.batch = args.batch or 1
    return benchmark(args)


if __name__ == '__main__':
    cli.run_tool(main)
