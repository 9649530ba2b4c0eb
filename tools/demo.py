"""Run a trained detector or segmentor on images and draw what it predicts.

    python tools/demo.py IMAGE_OR_DIR CONFIG CHECKPOINT [--out-dir D]
        [--score-thr T] [--device cpu|cuda] [--deploy]

Inference goes through mmdet's ``DetInferencer`` or mmseg's
``MMSegInferencer`` (whichever the config's ``default_scope`` names), the
same entry points a user of those libraries calls; boxes with class and
score, or class colours over the image, are written to ``D/vis/<image>``.
Works for every config here: the class names and palette come from the
config's dataset.
"""
from pathlib import Path


from backbones import cli

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(source: str):
    path = Path(source)
    if path.is_dir():
        images = sorted(str(p) for p in path.iterdir()
                        if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise cli.ToolError(f'no images ({", ".join(IMAGE_SUFFIXES)}'
                                f') in {source}')
        return images
    if not path.is_file():
        raise cli.ToolError(f'image or folder not found: {source}')
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise cli.ToolError(f'not an image file: {source}')
    return [str(path)]


def unreadable(images):
    """Images OpenCV cannot decode (they would stop the inferencer)."""
    import cv2
    return [p for p in images if cv2.imread(p) is None]


def build_inferencer(cfg, checkpoint: str, device: str):
    scope = cfg.get('default_scope')
    if scope == 'mmdet':
        from mmdet.apis import DetInferencer
        return DetInferencer(model=cfg, weights=checkpoint, device=device,
                             show_progress=False)
    if scope == 'mmseg':
        from mmseg.apis import MMSegInferencer
        return MMSegInferencer(model=cfg, weights=checkpoint, device=device)
    raise cli.ToolError(f'default_scope {scope!r}: demo.py knows mmdet '
                        f'and mmseg configs')


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('images', help='an image or a folder of images')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', default='demo_out')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='smallest box score drawn (detectors)')
    parser.add_argument('--device', default='cpu', type=cli.torch_device)
    parser.add_argument('--deploy', action='store_true',
                        help='infer in deploy mode (BatchNorm folded)')
    cli.add_common_args(parser)
    args = parser.parse_args(argv)
    cli.preflight()
    cli.apply_unsafe_load(args.unsafe_load)
    cli.check_score_thr('--score-thr', args.score_thr)
    images = list_images(args.images)
    bad = unreadable(images)
    if bad:
        raise cli.ToolError(f'cannot decode {len(bad)} image(s): '
                            f'{", ".join(bad[:5])}')
    cfg = cli.load_config(args.config, args.cfg_options)
    cli.check_channels(cfg)
    # checked against the config's model before the inferencer loads it
    # (non-strictly); the inferencer takes the object this check read
    cli.check_checkpoint(args.checkpoint, cli.build_model(cfg))
    inferencer = build_inferencer(cfg, args.checkpoint, args.device)
    if args.deploy:
        from backbones.models.folding import switch_model_to_deploy
        switch_model_to_deploy(inferencer.model)
    if cfg.default_scope == 'mmdet':
        inferencer(images, out_dir=args.out_dir, no_save_pred=True,
                   pred_score_thr=args.score_thr)
    else:
        # With an out_dir mmseg also writes the label maps and renames the
        # drawings; take the drawings back and save them like mmdet does.
        import mmcv
        drawings = inferencer(images, return_vis=True)['visualization']
        if len(images) == 1:  # mmseg returns a lone image unlisted
            drawings = [drawings]
        for path, drawing in zip(images, drawings):
            mmcv.imwrite(mmcv.rgb2bgr(drawing),
                         str(Path(args.out_dir) / 'vis' / Path(path).name))
    written = sorted((Path(args.out_dir) / 'vis').glob('*'))
    print(f'wrote {len(written)} images to {Path(args.out_dir) / "vis"}')
    return written


if __name__ == '__main__':
    cli.run_tool(main)
