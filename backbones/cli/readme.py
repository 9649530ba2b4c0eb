"""The README blocks that tools generate (model zoo, speed tables)."""
import os.path as osp
import re

from .errors import ToolError

# backbones/cli/readme.py -> the checkout holding README.md
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def replace_readme_block(name: str, text: str) -> None:
    """Put ``text`` between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
    in the project's README.md (the tables our tools generate)."""
    start, end = f'<!-- {name}:start -->', f'<!-- {name}:end -->'
    readme = osp.join(REPO_ROOT, 'README.md')
    with open(readme) as handle:
        content = handle.read()
    if start not in content or end not in content:
        raise ToolError(f'README.md has no {start} ... {end} block')
    content = re.sub(f'{re.escape(start)}.*{re.escape(end)}',
                     lambda _: f'{start}\n{text}\n{end}', content, flags=re.S)
    with open(readme, 'w') as handle:
        handle.write(content)
