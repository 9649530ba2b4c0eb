"""Models from configs: a detector or segmentor without pretrained files,
the same holding a checkpoint, and one of our backbones from a short
``TYPE:ARCH`` spec."""
import ast

from ..errors import InputError, from_library


def build_model(cfg, init_weights: bool = False):
    """Build ``cfg.model`` in its registry scope without pretrained weights.

    The backbone's ``Pretrained`` init (and mmseg's ``model.pretrained``) is
    dropped, so sizes, speed and exports can be measured without the
    ImageNet files; ``init_weights`` runs the remaining initialisation.
    (Deploy mode, when wanted, is switched on after loading weights:
    :func:`backbones.models.folding.switch_model_to_deploy`.)
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    if model_cfg.get('backbone'):
        model_cfg.backbone.init_cfg = None
    model_cfg.pop('pretrained', None)
    # One process: SyncBN (stock mmseg heads) becomes BN, as MMEngine's
    # runner does when it is not distributed.
    with from_library(f'{cfg.filename}: building model '
                      f'{model_cfg.get("type")!r}'):
        model = revert_sync_batchnorm(MODELS.build(model_cfg))
    if init_weights:
        model.init_weights()
    return model


def build_model_with_weights(cfg, checkpoint: str):
    """``cfg.model`` (eval mode) holding a training checkpoint of that
    config, read once and checked (missing, damaged, untrusted, NaN,
    another model: :func:`backbones.checkpoint.load_model_checkpoint`)."""
    from ..checkpoint import load_model_checkpoint
    model = build_model(cfg).eval()
    load_model_checkpoint(model, checkpoint)
    return model


def build_backbone(spec: str, **overrides):
    """One of our backbones from ``TYPE:ARCH[:key=value,...]``, e.g.
    ``AsymmNet:small:widen_factor=0.5`` (values are Python literals).

    Raises:
        InputError: an unknown type, or arguments the backbone refuses.
    """
    from mmengine.registry import MODELS

    from .. import models  # noqa: F401  (registers the types)

    def literal(text):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    parts = spec.split(':')
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise InputError(f'{spec!r}: a backbone is TYPE:ARCH[:key=value,...]'
                        f', e.g. EMO:1M')
    # An arch is a name ('128' included) unless written as a dict.
    arch = literal(parts[1]) if parts[1].startswith('{') else parts[1]
    cfg = dict(type=parts[0], arch=arch)
    for item in filter(None, ':'.join(parts[2:]).split(',')):
        key, sep, value = item.partition('=')
        if not sep:
            raise InputError(f'{spec!r}: {item!r} is not key=value')
        cfg[key] = literal(value)
    cfg.update(overrides)
    if not isinstance(getattr(MODELS.get(parts[0]), 'out_channels', None),
                      property):
        raise InputError(f'{spec!r}: {parts[0]!r} is not one of our '
                        f'backbones (EMO, EdgeNeXt, LeViT, AsymmNet)')
    try:
        return MODELS.build(cfg)
    except (ValueError, TypeError) as err:
        raise InputError(f'{spec!r}: {err}') from err
