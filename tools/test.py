"""Evaluate a checkpoint: COCO bbox mAP for detectors, mIoU/aAcc/mAcc for
segmentors (whatever the config's test_evaluator computes).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--show-dir DIR [--show-score-thr T]] [--deploy]
        [--cfg-options k=v ...] [--launcher pytorch|slurm]

    python tools/test.py CONFIG ARTEFACT_DIR

The checkpoint is read with ``weights_only=True`` and the allow-list of
:mod:`backbones.checkpoint`; ``--unsafe-load`` is the explicit opt-out for a
trusted file that holds other objects.  An artefact folder of
``tools/deploy.py`` is run by its runtime on every test image (files in,
boxes or masks out) and scored by the same evaluator.
"""
import json
import numbers
import os
import os.path as osp

import numpy as np


from backbones import cli
from backbones.data.checks import data_errors
from backbones.errors import from_library


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file, or an artefact '
                        'folder of tools/deploy.py')
    parser.add_argument('--work-dir', help='where logs go (default: '
                        'work_dirs/<config name>)')
    parser.add_argument('--out', help='also dump the raw predictions to this '
                        '.pkl file')
    parser.add_argument('--show-dir', help='draw the predictions for every '
                        'test image into this folder (mmdet / mmseg '
                        'visualizers)')
    parser.add_argument('--show-score-thr', type=float, default=0.3,
                        help='smallest score of a drawn box (default 0.3)')
    parser.add_argument('--deploy', action='store_true',
                        help='test in deploy mode (BatchNorm folded, as with '
                        'deploy = True in the config)')
    cli.add_launcher_args(parser)
    cli.add_data_args(parser)
    cli.add_common_args(parser)
    return parser.parse_args(argv)


def apply_deploy(cfg, requested: bool = False) -> bool:
    """``deploy = True`` in the config (or ``requested``, e.g. ``--deploy``):
    test in deploy mode, switched after the checkpoint is loaded
    (:class:`backbones.engine.SwitchToDeployHook`).  Returns whether it is
    on."""
    if not (requested or cfg.get('deploy', False)):
        return False
    cfg.deploy = True
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'SwitchToDeployHook' for h in hooks):
        hooks.append(dict(type='SwitchToDeployHook'))
    cfg.custom_hooks = hooks
    return True


def enable_show_dir(cfg, show_dir: str, score_thr: float = 0.3) -> str:
    """Draw every test image's predictions into ``show_dir`` with the
    config's own mmdet/mmseg visualization hook (as their ``test.py
    --show-dir``): boxes with class and score above ``score_thr``, or class
    colours over the image.  Returns the absolute folder."""
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if hook is None:
        raise cli.ToolError('--show-dir needs default_hooks.visualization in '
                            'the config (mmdet/mmseg default_runtime has it)')
    cli.check_score_thr('--show-score-thr', score_thr)
    show_dir = osp.abspath(show_dir)
    hook['draw'] = True
    if cfg.get('default_scope') == 'mmdet':
        hook['test_out_dir'] = show_dir  # absolute: used as it is
        hook['score_thr'] = score_thr
    else:
        hook['interval'] = 1  # every image, not every 50th
        cfg.visualizer['save_dir'] = show_dir
    return show_dir


def summarize_metrics(metrics: dict) -> str:
    """One human line for the headline metrics of a det or seg run."""
    names = {'coco/bbox_mAP': 'COCO bbox mAP', 'coco/bbox_mAP_50': 'mAP@50',
             'coco/bbox_mAP_75': 'mAP@75', 'mIoU': 'mIoU', 'aAcc': 'aAcc',
             'mAcc': 'mAcc'}
    parts = [f'{label} {metrics[key]:.4g}' for key, label in names.items()
             if key in metrics]
    return ', '.join(parts) if parts else str(metrics)


def test_artefact(args) -> dict:
    """An artefact folder of tools/deploy.py, evaluated with the config's
    evaluator on its test set."""
    from backbones.data.checks import check_classes, check_data
    from backbones.export.evaluation import evaluate_artefact
    for option in ('show_dir', 'out', 'deploy'):
        if getattr(args, option):
            raise cli.ToolError(f'--{option.replace("_", "-")} is for '
                                f'checkpoints, not artefact folders')
    from backbones.data.validate import validate
    cfg = cli.load_config(args.config, args.cfg_options)
    check_classes(cfg, ['test_dataloader'])
    check_data(cfg, ['test_dataloader'])
    validate(cfg, ['test_dataloader'], args.strict_data)
    with data_errors(cfg):
        return evaluate_artefact(cfg, args.checkpoint)


def print_metrics_json(metrics: dict) -> None:
    print('metrics json: ' + json.dumps(
        {k: float(v) for k, v in metrics.items()
         if isinstance(v, (numbers.Real, np.generic))}))


def main(argv=None):
    args = parse_args(argv)
    cli.preflight()
    if os.path.isdir(args.checkpoint):
        metrics = test_artefact(args)
        print(f'Test results for {args.checkpoint}: '
              f'{summarize_metrics(metrics)}')
        print_metrics_json(metrics)
        return metrics
    cli.apply_unsafe_load(args.unsafe_load)
    cfg = cli.load_run_config(args)
    cfg.load_from = args.checkpoint
    apply_deploy(cfg, args.deploy)
    if args.show_dir:
        show_dir = enable_show_dir(cfg, args.show_dir,
                                   args.show_score_thr)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise cli.ToolError('--out must end with .pkl or .pickle')
        evaluators = cfg.test_evaluator if isinstance(
            cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = list(evaluators) + [
            dict(type='DumpResults', out_file_path=args.out)]
    runner = cli.build_runner(cfg, ['test_dataloader'],
                              strict_data=args.strict_data)
    # read once: the runner's load takes the object this check read
    cli.check_checkpoint(args.checkpoint, runner.model)
    with from_library(f'{cfg.filename}: testing'), data_errors(cfg):
        metrics = runner.test()
    print(f'Test results for {args.checkpoint}: '
          f'{summarize_metrics(metrics)}')
    if args.show_dir:
        print(f'drew the predictions into {show_dir}')
    print_metrics_json(metrics)
    return metrics


if __name__ == '__main__':
    cli.run_tool(main)
