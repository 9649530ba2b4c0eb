"""Loading a config as every tool does: ``Config.fromfile`` with its
errors named, ``--cfg-options`` merged and their ``custom_imports``
honoured."""
import os.path as osp
from typing import Optional

from ..errors import ConfigError, one_line


def load_config(path, cfg_options: Optional[dict] = None,
                model_config: bool = True):
    """``Config.fromfile`` plus ``cfg_options``, honouring custom_imports.

    ``Config.fromfile`` imports a config's ``custom_imports`` while parsing
    the file, so ones that arrive through ``--cfg-options`` would otherwise
    never be imported.

    Raises:
        ConfigError: a missing or unreadable file, an error inside it,
            options that cannot be merged, or (``model_config``) a config
            that describes no model.
    """
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    path = str(path)
    if not osp.isfile(path):
        raise ConfigError(f'config file not found: {path}')
    if not path.endswith('.py'):
        raise ConfigError(f'{path} is not a Python config (.py) file')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        where = err.filename if err.filename not in (None, '<unknown>') \
            else path
        raise ConfigError(f'{where}, line {err.lineno}: {err.msg}') from err
    except Exception as err:  # a missing base file, an error in the config
        raise ConfigError(f'{path} cannot be loaded: {one_line(err)}') \
            from err
    if cfg_options:
        try:
            cfg.merge_from_dict(cfg_options)
        except Exception as err:
            raise ConfigError(f'--cfg-options cannot be applied: '
                              f'{one_line(err)}') from err
        if any(key == 'custom_imports' or key.startswith('custom_imports.')
               for key in cfg_options):
            import_modules_from_strings(**cfg.custom_imports)
    if model_config and not isinstance(cfg.get('model'), dict):
        hint = ' (an mmdeploy deploy config: give it to mmdeploy beside a ' \
            'model config)' if 'backend_config' in cfg or \
            'onnx_config' in cfg else ''
        raise ConfigError(f'{path} is not a model config: it has no '
                          f'"model"{hint}')
    return cfg
