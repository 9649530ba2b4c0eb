"""Helpers shared by the tests."""
import os
import runpy
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def run_tool(script: str, *args, cwd=None, env=None, timeout=1800):
    """Run ``tools/<script>`` in a fresh interpreter; returns the result."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1')
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / script), *map(str, args)],
        cwd=cwd or REPO, env=full_env, capture_output=True, text=True,
        timeout=timeout)


def tool_main(script: str):
    """The ``main`` of ``tools/<script>``, to run its command line in this
    process (a fresh interpreter per case would cost seconds of imports).
    Tests call tools only through their command lines; what they test of
    the library they import from the package."""
    namespace = runpy.run_path(str(REPO / 'tools' / script),
                               run_name=f'mobiledense_tool_{script[:-3]}')
    return namespace['main']


def save_untrained(config, path):
    """An untrained model of a config, saved like a training checkpoint."""
    from backbones import config as mmconfig
    torch.manual_seed(0)
    model = mmconfig.build_model(mmconfig.load_config(str(config)),
                                 init_weights=True)
    torch.save({'meta': {'epoch': 0}, 'state_dict': model.state_dict()},
               path)


def randomise(model: torch.nn.Module) -> None:
    """Statistics, scales, norms' affine maps and LeViT's attention biases
    (zero at init) far from their initial values, so that a fold or a
    formulation that drops or misplaces one shows."""
    from torch.nn.modules.batchnorm import _BatchNorm
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                for tensor, low, high in (
                        (module.running_mean, -0.5, 0.5),
                        (module.running_var, 0.5, 2.0),
                        (module.weight, 0.5, 1.5), (module.bias, -0.3, 0.3)):
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) *
                                 (high - low) + low)
            if isinstance(module, torch.nn.LayerNorm) and \
                    module.weight is not None:
                for tensor, low, high in ((module.weight, 0.5, 1.5),
                                          (module.bias, -0.3, 0.3)):
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) *
                                 (high - low) + low)
        for name, param in model.named_parameters():
            if 'gamma' in name:
                param.copy_(torch.rand(param.shape, generator=gen) + 0.1)
            if 'attention_biases' in name:
                param.copy_(torch.randn(param.shape, generator=gen))


def spread_class_scores(model: torch.nn.Module) -> None:
    """Make a randomised detector's or segmentor's class scores decisive,
    as a trained model's: an untrained one scores every box near 1 /
    (classes + 1) and every class alike, and NMS or the arg-max then rest
    on rounding."""
    head = getattr(model, 'bbox_head', None)
    convs, factor = (head.cls_convs.modules(), 6) if head is not None else \
        ([model.decode_head.conv_seg], 50)
    if hasattr(head, 'retina_cls'):  # RetinaNet: its prior-probability bias
        convs, factor = [head.retina_cls], 3  # puts every score below 0.05
        with torch.no_grad():
            head.retina_cls.bias.zero_()
    with torch.no_grad():
        for conv in convs:
            if isinstance(conv, torch.nn.Conv2d):
                conv.weight *= factor
