"""One training per work dir: a lock file holding the owner's pid and
host, refused while that process lives, taken over (with a note) once it is
gone."""
import contextlib
import json
import os
import os.path as osp
import socket
import time

from .errors import ToolError

LOCK = '.training.lock'


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's, but it exists
        return True
    return True


@contextlib.contextmanager
def work_dir_lock(work_dir: str, report=print):
    """Hold ``work_dir``'s lock while the block runs.

    Raises:
        ToolError: another live training holds it (naming its pid and
            host), or one on another host does.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK)
    me = dict(pid=os.getpid(), host=socket.gethostname(),
              since=time.strftime('%Y-%m-%d %H:%M:%S'))
    while True:
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                with open(path) as handle:
                    holder = json.load(handle)
            except (OSError, ValueError):
                holder = {}  # being written this instant, or damaged
                time.sleep(0.2)
            pid, host = holder.get('pid'), holder.get('host')
            if pid is None:
                if osp.exists(path) and time.time() - osp.getmtime(path) > 5:
                    report(f'note: {path} is unreadable; taking it over')
                    os.unlink(path)
                continue
            if host != me['host']:
                raise ToolError(
                    f'{work_dir} is in use by a training on host {host} '
                    f'(pid {pid}, since {holder.get("since")}); choose '
                    f'another --work-dir, or delete {path} if it is gone')
            if _alive(pid):
                raise ToolError(
                    f'{work_dir} is in use by another training (pid {pid}, '
                    f'since {holder.get("since")}); wait for it to end or '
                    f'choose another --work-dir')
            report(f'note: taking over {path} from pid {pid}, which is '
                   f'gone (a training that was killed)')
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        with os.fdopen(descriptor, 'w') as handle:
            json.dump(me, handle)
        break
    try:
        yield path
    finally:
        with contextlib.suppress(OSError, ValueError):
            with open(path) as handle:
                if json.load(handle).get('pid') == me['pid']:
                    os.unlink(path)
