"""Measure inference (or training) speed of a config on CPU or GPU.

    python tools/benchmark.py CONFIG [--device cpu|cuda] [--batch N]
        [--shape H W] [--iters N] [--warmup N] [--backbone-only] [--train]
        [--fp16]

Inference times the deployed forward (backbone, neck and head, no NMS) or
the backbone alone on random input; ``--train`` times full training steps
(forward, loss, backward, optimizer) on a synthetic batch.  It prints
figures; nothing is asserted.  Unlike mmdet 3.3's ``benchmark.py --task
inference``, which requires CUDA, it runs on a CPU-only machine too.
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backbones import tooling  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_calls(step, device, warmup: int, iters: int):
    """Seconds per call of ``step()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    synchronize(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a config')
    parser.add_argument('config')
    parser.add_argument('--device', default='cuda' if
                        torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--backbone-only', action='store_true')
    parser.add_argument('--train', action='store_true',
                        help='time training steps instead of inference')
    parser.add_argument('--fp16', action='store_true',
                        help='autocast to float16 (CUDA only)')
    tooling.add_common_args(parser)
    args = parser.parse_args(argv)
    tooling.preflight()
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise tooling.ToolError('--device cuda, but no CUDA GPU is visible')
    if args.fp16 and device.type != 'cuda':
        raise tooling.ToolError('--fp16 needs a CUDA device')
    from get_flops import RawForward, test_input_shape
    cfg = tooling.load_config(args.config, args.cfg_options)
    tooling.check_channels(cfg)
    shape = tuple(args.shape or test_input_shape(cfg))
    model = tooling.build_model(cfg).to(device)
    autocast = torch.autocast('cuda', dtype=torch.float16,
                              enabled=args.fp16)

    if args.train:
        from mmengine.optim import build_optim_wrapper
        model.train()
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        data = tooling.synthetic_batch(model, cfg.default_scope, shape,
                                       args.batch)

        def step():
            with autocast:
                model.train_step(data, optim_wrapper)
        what = 'training step'
    else:
        module = model.backbone if args.backbone_only else RawForward(model)
        module.eval()
        inputs = torch.randn(args.batch, 3, *shape, device=device)

        @torch.no_grad()
        def step():
            with autocast:
                module(inputs)
        what = 'backbone forward' if args.backbone_only else 'forward'

    times = time_calls(step, device, args.warmup, args.iters)
    median = statistics.median(times)
    threads = torch.get_num_threads() if device.type == 'cpu' else None
    where = f'{device}' + (f' ({threads} threads)' if threads else
                           f' ({torch.cuda.get_device_name(device)})')
    print(f'{args.config}: {what}, batch {args.batch}, '
          f'{shape[0]}x{shape[1]}, {where}'
          f'{", fp16" if args.fp16 else ""}')
    print(f'median {median * 1e3:.1f} ms/iter (min {min(times) * 1e3:.1f}, '
          f'max {max(times) * 1e3:.1f}, {args.iters} iters), '
          f'{args.batch / median:.1f} images/s')
    return times


if __name__ == '__main__':
    tooling.run_tool(main)
