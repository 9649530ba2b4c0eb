"""Command-line parsing the tools share: one ``error:`` line for a bad
option, and the options several tools take."""
import argparse
import sys

from .errors import ToolError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a bad command line answered by one line, ``error:
    ...`` on stderr, and exit status 2 (as every other user error of the
    tools); ``--help`` still prints the usage."""

    def error(self, message: str):
        print(f'error: {message} (see {self.prog} --help)', file=sys.stderr)
        raise SystemExit(2)


def int_at_least(minimum: int):
    """An argparse type: a whole number of at least ``minimum`` (a bad
    value is named by argparse, with the option, in its one error line)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not a whole number')
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f'must be at least {minimum}, got {value}')
        return value
    parse.__name__ = f'int >= {minimum}'
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def torch_device(text: str) -> str:
    """argparse type: a device string torch knows (``cpu``, ``cuda``,
    ``cuda:1``, ...)."""
    import torch
    try:
        torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a torch device (cpu, cuda, cuda:0, ...)')
    return text


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number')
    if not 0 < value < float('inf'):
        raise argparse.ArgumentTypeError(f'must be above 0, got {value}')
    return value


def cfg_options_action():
    """mmengine's ``DictAction``, with an item that is not ``key=value``
    named by argparse in one line instead of a ValueError traceback, and so
    is a value mmengine cannot parse (unbalanced brackets)."""
    from mmengine.config import DictAction

    class CfgOptions(DictAction):
        def __call__(self, parser, namespace, values, option_string=None):
            for item in values:
                key, sep, _ = item.partition('=')
                if not sep or not key:
                    parser.error(f'{option_string}: {item!r} is not '
                                 f'key=value')
            try:
                super().__call__(parser, namespace, values, option_string)
            except (AssertionError, ValueError) as err:  # e.g. brackets
                parser.error(f'{option_string}: {" ".join(str(err).split())}')
            except RecursionError:  # mmengine's parser loops on dict(...)
                parser.error(f'{option_string}: mmengine cannot parse '
                             f'{" ".join(values)!r}: values are numbers, '
                             f'strings, lists or tuples; set a dict key by '
                             f'key (a.b.c=value)')

    return CfgOptions


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--cfg-options', nargs='+', action=cfg_options_action(), default=None,
        help='override config entries, key=value (nested keys with dots); '
        'custom_imports given here are imported too')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='load checkpoints with weights_only=False. Only for files you '
        'trust: unpickling them may run arbitrary code.')


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--strict-data', action='store_true',
        help='refuse annotation files with boxes or categories mmdet would '
        'skip (default: one warning with their counts)')


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """``--launcher`` for MMEngine's distributed launchers, and the rank
    argument that ``torch.distributed.launch`` passes."""
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def check_score_thr(option: str, value: float) -> None:
    """A box-score threshold is a probability."""
    if not 0 <= value <= 1:
        raise ToolError(f'{option} must be in [0, 1], got {value}')
