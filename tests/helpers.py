"""Helpers shared by the tests."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_tool(script: str, *args, cwd=None, env=None, timeout=1800):
    """Run ``tools/<script>`` in a fresh interpreter; returns the result."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1')
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / script), *map(str, args)],
        cwd=cwd or REPO, env=full_env, capture_output=True, text=True,
        timeout=timeout)
