"""The package's layering: every import points down the list of rooms
(DEVELOPERS.md, "Layout"), so the library never reaches into the command
lines and the runtime never into the training side."""
import ast
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / 'backbones'
# lowest first; a module may import its own room and the rooms before it
ROOMS = ['errors', 'runtime', 'checkpoint', 'models', 'config', 'data',
         'engine', 'mm_fixes', 'analysis', 'export', 'benchmark', 'cli']


def room_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix('.py')


def imported_rooms(path: Path):
    """``(line, room)`` of every import of the package in ``path``, lazy
    imports inside functions included."""
    package = path.relative_to(REPO).with_suffix('').parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package[:len(package) - node.level + 1]
                target = list(base) + (node.module.split('.')
                                       if node.module else [])
                names = [target] if node.module else \
                    [target + [a.name] for a in node.names]
            else:
                names = [node.module.split('.')]
        elif isinstance(node, ast.Import):
            names = [a.name.split('.') for a in node.names]
        else:
            continue
        for name in names:
            if name[0] == 'backbones' and len(name) > 1:
                yield node.lineno, name[1]


MODULES = sorted(p for p in PACKAGE.rglob('*.py')
                 if p.parent != PACKAGE or p.name != '__init__.py')


@pytest.mark.parametrize('path', MODULES,
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    room = room_of(path)
    assert room in ROOMS, f'{room} is not in the room list'
    wrong = [f'line {line}: {target}' for line, target in
             imported_rooms(path) if target in ROOMS and
             ROOMS.index(target) > ROOMS.index(room)]
    assert not wrong, f'{path.relative_to(REPO)} imports rooms above ' \
        f'{room}: {wrong}'


def test_the_import_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The check itself: a lazy relative import of cli from export."""
    fake = PACKAGE / 'export' / 'upward_example.py'
    source = 'def f():\n    from ..cli import ToolError\n'
    monkeypatch.setattr(Path, 'read_text', lambda self, *a, **k: source
                        if self == fake else Path.read_bytes(self).decode())
    assert list(imported_rooms(fake)) == [(2, 'cli')]
