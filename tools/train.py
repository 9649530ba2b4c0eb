"""Train a detector or segmentor from an mmdet / mmseg config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch|slurm]

Multi-GPU / multi-node runs use MMEngine's launchers: ``tools/dist_train.sh``
(torchrun) and ``tools/slurm_train.sh``.  ``--resume`` without a path picks
up the last checkpoint in the work directory, so a killed run loses at most
the iterations since its last save.
"""
import contextlib
import errno
import glob
import os
import os.path as osp
import signal
import sys


from backbones import cli
from backbones.data.checks import data_errors
from backbones.errors import from_library


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None,
        help='resume from CKPT, or without a value from the last checkpoint '
        'in the work directory')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a CUDA GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the learning rate by the actual batch "
                        "size over the config's auto_scale_lr.base_batch_size")
    cli.add_launcher_args(parser)
    cli.add_data_args(parser)
    cli.add_common_args(parser)
    return parser.parse_args(argv)


def build_cfg(args):
    cfg = cli.load_run_config(args)
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise cli.ToolError(
                '--amp needs a CUDA GPU and none is visible here; drop --amp '
                'to train in fp32.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise cli.ToolError(
                '--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
                'config.')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        latest = cli.latest_good_checkpoint(
            cfg.work_dir, report=lambda line: print(line, file=sys.stderr))
        cfg.resume = latest is not None
        cfg.load_from = latest
        if latest is None and osp.isdir(cfg.work_dir) and \
                glob.glob(osp.join(cfg.work_dir, '*.pth')):
            print('warning: no readable checkpoint in '
                  f'{cfg.work_dir}; training starts from scratch',
                  file=sys.stderr)
        elif latest is not None:
            print(f'resuming from {latest}')
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def stop_on_sigterm() -> None:
    """SIGTERM (what Slurm and torchrun send) ends a training as Ctrl-C
    does: the work dir keeps its checkpoints and resumes."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)


def train(cfg, runner) -> None:
    try:
        with from_library(f'{cfg.filename}: training'), data_errors(cfg):
            runner.train()
    except KeyboardInterrupt:
        print(f'interrupted: {cfg.work_dir} keeps the checkpoints saved so '
              f'far; run the same command with --resume to continue',
              file=sys.stderr)
        raise SystemExit(130)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        latest = cli.latest_good_checkpoint(cfg.work_dir,
                                            report=lambda line: None)
        raise cli.ToolError(
            f'the disk is full: writing {err.filename or cfg.work_dir} '
            f'failed; nothing partial was left, and '
            + (f'{latest} still resumes (--resume)' if latest else
               'no checkpoint was saved yet')) from err


def main(argv=None):
    args = parse_args(argv)
    cli.preflight()
    cli.apply_unsafe_load(args.unsafe_load)
    stop_on_sigterm()
    cfg = build_cfg(args)
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'StopOnNonFiniteHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='StopOnNonFiniteHook')]
    # one process per work dir holds its lock (rank 0 of a distributed run)
    lock = cli.work_dir_lock(cfg.work_dir, report=lambda line: print(
        line, file=sys.stderr)) if os.environ.get('RANK', '0') == '0' \
        else contextlib.nullcontext()
    with lock:
        runner = cli.build_runner(cfg, strict_data=args.strict_data)
        if cfg.get('load_from') and cfg.get('resume'):
            # read once: the runner takes this read
            cli.check_checkpoint(cfg.load_from, runner.model, resume=True)
        elif cfg.get('load_from'):
            note = cli.check_fine_tune_source(cfg.load_from, runner.model)
            if note:
                print(note, file=sys.stderr)
        train(cfg, runner)
    return runner


if __name__ == '__main__':
    cli.run_tool(main)
