"""What the scripts in ``tools/`` share, one module per topic:

* :mod:`.errors`: ``ToolError`` and ``run_tool`` (one line, exit 2);
* :mod:`.environment`: start-up checks (``preflight``), ``--unsafe-load``;
* :mod:`.arguments`: options several tools take;
* :mod:`.config`: configs, work dirs, channel check, model and runner
  building;
* :mod:`.checkpoints`: checkpoint pre-checks and the one ``--resume`` takes;
* :mod:`.readme`: the README blocks tools generate;
* :mod:`.workdir`: one training per work dir.

Tools write ``from backbones import cli`` and call ``cli.NAME``.
"""
from .arguments import (ArgumentParser, add_common_args, add_data_args,
                        add_launcher_args,
                        check_score_thr, non_negative_int, positive_float,
                        positive_int)
from .checkpoints import (check_checkpoint, checkpoint_damage,
                          latest_good_checkpoint)
from .config import (build_backbone, build_model, build_model_with_weights,
                     build_runner, check_channels, default_work_dir,
                     load_config, load_run_config, setup_cpu_distributed)
from .environment import (apply_unsafe_load, check_torchvision,
                          keep_freed_memory, preflight)
from .errors import ToolError, run_tool, user_errors
from .readme import replace_readme_block
from .workdir import work_dir_lock

__all__ = [
    'ArgumentParser', 'ToolError', 'add_common_args', 'add_data_args',
    'add_launcher_args',
    'apply_unsafe_load', 'build_backbone', 'build_model',
    'build_model_with_weights', 'build_runner', 'check_channels',
    'check_checkpoint', 'check_score_thr', 'check_torchvision',
    'checkpoint_damage', 'default_work_dir', 'keep_freed_memory',
    'latest_good_checkpoint', 'load_config', 'load_run_config',
    'non_negative_int', 'positive_float', 'positive_int', 'preflight',
    'replace_readme_block', 'run_tool', 'setup_cpu_distributed',
    'user_errors', 'work_dir_lock'
]
