"""Deploy a config and a checkpoint to an edge runtime: an artefact folder
that ONNX Runtime, OpenVINO, ncnn, MNN, ExecuTorch or LiteRT runs from
image to boxes or masks.

    python tools/deploy.py CONFIG CHECKPOINT --backend {onnxruntime,openvino,
        ncnn,mnn,executorch,litert} --out DIR [--shape H W]
        [--int8 [--calib-images N]]

A test pipeline that keeps the aspect ratio gives onnxruntime and
OpenVINO artefacts a free input size: each image goes in at the size the
pipeline resizes it to, as in PyTorch.  ``--shape`` (and every ncnn, MNN,
ExecuTorch and LiteRT artefact) fixes the input size instead; keep-ratio images are then padded
to it, which changes what pooled and windowed models compute (a warning
says so).

The folder holds the model files and ``manifest.json`` (input size,
pre-processing, classes, score and NMS settings, sha256 of the config and
checkpoint, versions).  Run it with ``backbones.runtime.load(DIR)``,
evaluate it with ``tools/test.py CONFIG DIR``.  Nothing is written when
the backend cannot express the model or its outputs differ from
PyTorch's.
"""

from backbones import cli


def parse_args(argv=None):
    from backbones.runtime.sessions import BACKENDS
    parser = cli.ArgumentParser(description='Deploy to an edge runtime')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--backend', required=True, choices=BACKENDS)
    parser.add_argument('--out', required=True, help='artefact folder')
    parser.add_argument('--shape', type=cli.positive_int, nargs=2,
                        metavar=('H', 'W'),
                        help='static input size (default: the size of a '
                        'fixed-size test resize; for a keep-ratio resize a '
                        'free size on onnxruntime/openvino, else the '
                        "config's test size)")
    parser.add_argument('--int8', action='store_true',
                        help='quantize to int8, calibrated on training '
                        'images')
    parser.add_argument('--calib-images', type=cli.positive_int, default=32,
                        metavar='N', help='training images to calibrate on '
                        '(default 32)')
    cli.add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cli.preflight()
    cli.apply_unsafe_load(args.unsafe_load)
    cfg = cli.load_config(args.config, args.cfg_options)
    cli.check_channels(cfg)
    from backbones.export.artefact import (default_input_size, deploy,
                                           leaves_size_free, source_record)
    from backbones.models.folding import switch_model_to_deploy
    model = switch_model_to_deploy(
        cli.build_model_with_weights(cfg, args.checkpoint))
    quantize = None
    if args.int8:
        from backbones.export.quantize import quantizer, training_images
        quantize = quantizer(args.backend,
                             training_images(cfg, args.calib_images))
    size = tuple(args.shape) if args.shape else default_input_size(cfg)
    free_size = leaves_size_free(cfg, args.backend, bool(args.shape))
    manifest = deploy(model, cfg, args.backend, args.out, size,
                      source_record(args.config, args.checkpoint),
                      quantize=quantize, free_size=free_size)
    shown = 'free' if free_size else f'{size[0]}x{size[1]}'
    print(f'wrote {args.out}: {manifest["task"]} for {args.backend}, '
          f'{manifest["precision"]}, input {shown}')
    return manifest


if __name__ == '__main__':
    cli.run_tool(main)
