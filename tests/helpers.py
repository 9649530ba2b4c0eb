"""Helpers shared by the tests."""
import os
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


def save_untrained(config, path):
    """An untrained model of a config, saved like a training checkpoint."""
    from backbones import tooling
    torch.manual_seed(0)
    model = tooling.build_model(tooling.load_config(str(config)),
                                init_weights=True)
    torch.save({'meta': {'epoch': 0}, 'state_dict': model.state_dict()},
               path)
