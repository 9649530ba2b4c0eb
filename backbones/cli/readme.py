"""The blocks of the README and docs/ that tools generate (model zoo,
speed tables, the bad-input table)."""
import os.path as osp
import re

from .errors import ToolError

# backbones/cli/readme.py -> the checkout holding README.md and docs/
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def replace_doc_block(document: str, name: str, text: str) -> str:
    """Put ``text`` between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
    in ``document`` (a path relative to the checkout, e.g. ``README.md``,
    ``docs/speed.md``); returns the file's path."""
    start, end = f'<!-- {name}:start -->', f'<!-- {name}:end -->'
    path = osp.join(REPO_ROOT, document)
    with open(path) as handle:
        content = handle.read()
    if start not in content or end not in content:
        raise ToolError(f'{document} has no {start} ... {end} block')
    content = re.sub(f'{re.escape(start)}.*{re.escape(end)}',
                     lambda _: f'{start}\n{text}\n{end}', content, flags=re.S)
    with open(path, 'w') as handle:
        handle.write(content)
    return path
