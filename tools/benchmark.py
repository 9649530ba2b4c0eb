"""Time models side by side: configs, backbones, or any PyTorch model.

    python tools/benchmark.py SPEC [SPEC ...] [--sizes S [S ...] | --shape H W]
        [--modes eager deploy onnxruntime-network openvino-network ...]
        [--profile] [--batch N] [--threads N]
        [--reps N] [--warmup N] [--device cpu|cuda] [--fp16]
        [--wait-quiet GMACS [--wait-timeout SECONDS]]
        [--backbone-only] [--json OUT.json] [--write-docs NAME]
        [--python-path DIR]
    python tools/benchmark.py CONFIG [CONFIG ...] --end-to-end
        --modes eager deploy artefact:onnxruntime artefact:openvino-int8 ...
        [--checkpoint CKPT] [--image IMAGE]
    python tools/benchmark.py CONFIG --train [--batch N] [--reps N]

A SPEC is ``configs/x.py`` (the network of a detector or segmentor, at the
config's test size unless ``--sizes``/``--shape`` say otherwise;
``--backbone-only`` times its backbone), ``backbone:TYPE:ARCH[:k=v,...]``
(e.g. ``backbone:AsymmNet:small:widen_factor=0.5``) or
``python:MODULE:FUNCTION[:ARG]`` (whatever ``nn.Module`` the function
returns, imported from ``--python-path``).  Modes and method:
:mod:`backbones.benchmark`.  Speed is printed, never asserted.
"""
import json

from backbones import cli


def parse_args(argv=None):
    from backbones.benchmark import ARTEFACT_MODES, NETWORK_MODES
    parser = cli.ArgumentParser(
        description='Time models side by side (or training steps)')
    parser.add_argument('specs', nargs='+', metavar='SPEC')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--sizes', type=cli.positive_int, nargs='+',
                      metavar='S', help='square input sizes (default: the '
                      'config test size, 224 for backbones)')
    size.add_argument('--shape', type=cli.positive_int, nargs=2,
                      metavar=('H', 'W'))
    parser.add_argument('--modes', nargs='+', default=['eager'],
                        choices=NETWORK_MODES + ARTEFACT_MODES)
    parser.add_argument('--end-to-end', action='store_true',
                        help='configs from an image to boxes or masks: '
                        'eager/deploy through mmdet/mmseg inference, '
                        'artefact:* modes deployed on the fly (random '
                        'weights; int8 calibrated on random images)')
    parser.add_argument('--profile', action='store_true',
                        help="after the timing, run the runtime modes "
                        "again under the runtime's own profiler and print "
                        'their time per operator type (onnxruntime, '
                        'OpenVINO; ncnn: each layer timed on its own, as '
                        'its Python package has no profiler)')
    parser.add_argument('--checkpoint', metavar='CKPT',
                        help='end to end, one config: its trained weights '
                        '(default: random)')
    parser.add_argument('--image', metavar='IMAGE',
                        help='end to end: the image (default: random '
                        'pixels at the input size)')
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
    parser.add_argument('--wait-quiet', type=cli.positive_float,
                        metavar='GMACS', help='time each round once a '
                        'float32 matmul reaches GMACS GMAC/s three times '
                        'in a row (a shared machine is quiet), and again '
                        'when it fell below during the round; after '
                        '--wait-timeout seconds rounds are kept as they '
                        'come, and the header says how many')
    parser.add_argument('--wait-timeout', type=cli.positive_float,
                        default=1800.0, metavar='SECONDS')
    parser.add_argument('--device', default=None, type=cli.torch_device,
                        help='cpu or cuda (default: cuda when visible)')
    parser.add_argument('--fp16', action='store_true',
                        help='autocast to float16 (CUDA only)')
    parser.add_argument('--backbone-only', action='store_true',
                        help="time a config's backbone alone")
    parser.add_argument('--train', action='store_true',
                        help="time a config's training steps instead")
    parser.add_argument('--json', metavar='OUT', help='also write the rows')
    parser.add_argument('--write-docs', metavar='NAME',
                        help='replace the block <!-- speed-NAME:start --> '
                        '... <!-- speed-NAME:end --> of docs/speed.md with '
                        'the table')
    parser.add_argument('--python-path', action='append', default=[],
                        metavar='DIR', help='where python: specs import from')
    cli.add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cli.preflight()
    import torch

    from backbones.benchmark import (Settings, benchmark, markdown,
                                     profile_markdown, train_split)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings(
        specs=args.specs, sizes=args.sizes, shape=args.shape,
        modes=args.modes, end_to_end=args.end_to_end, batch=args.batch,
        threads=args.threads or 0, reps=args.reps, warmup=args.warmup,
        rewarm=args.rewarm, fp16=args.fp16, backbone_only=args.backbone_only,
        python_path=args.python_path, cfg_options=args.cfg_options,
        profile=args.profile, checkpoint=args.checkpoint, image=args.image,
        quiet_rate=args.wait_quiet and args.wait_quiet * 1e9,
        quiet_timeout=args.wait_timeout,
        device=args.device or ('cuda' if torch.cuda.is_available() else
                               'cpu'))
    if (args.checkpoint or args.image) and not args.end_to_end:
        raise cli.ToolError('--checkpoint and --image time end to end '
                            '(--end-to-end)')
    if args.checkpoint and len(args.specs) != 1:
        raise cli.ToolError('--checkpoint belongs to one config')
    if args.train:
        if len(args.specs) != 1 or not args.specs[0].endswith('.py'):
            raise cli.ToolError('--train times one config')
        parts, lines = train_split(args.specs[0], settings)
        print('\n'.join(lines))
        return parts
    settings.batch = settings.batch or 1
    rows, header = benchmark(settings)
    text = markdown(rows, header)
    if args.profile:
        text += '\n\nWhere the time goes:\n\n' + profile_markdown(rows)
    print(text)
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(dict(machine=header, rows=rows), handle, indent=1)
    if args.write_docs:
        path = cli.replace_doc_block('docs/speed.md',
                                     f'speed-{args.write_docs}', text)
        print(f'updated {path} (speed-{args.write_docs})')
    return rows


if __name__ == '__main__':
    cli.run_tool(main)
