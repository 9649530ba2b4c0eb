"""Timing entries in one process, interleaved, and the table of results.

Every model and mode is timed in the same process, one call of each in
turn (``torch.inference_mode``): warm-up, then ``reps`` rounds, each timing
every entry once after ``rewarm`` untimed calls (the steady-state latency
of a model that runs repeatedly, not of one whose weights the previous
model pushed out of the caches).  The table gives the median and minimum
milliseconds, images/s, multiply-accumulates (mmengine's counter, as
``tools/get_flops.py``), the achieved MAC rate as a share of this
machine's float32 matrix-multiply rate (measured in the same run), and the
largest difference of each output from the first model with the same
output shapes (relative to that output's largest value).  On a shared
machine, :class:`QuietGate` keeps only rounds timed while it was quiet.
"""
import os
import platform
import statistics
import tempfile
import time
from typing import List, Optional, Tuple

import torch

from ..errors import ArtefactError, UsageError
from ..export.compare import relative_differences
from ..export.onnx import flatten_outputs
from ..runtime.sessions import layout_ops
from .entries import (Entry, Settings, end_to_end_entries, mode_backend,
                      network_entries)


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype=torch.float32,
                typical: bool = False) -> float:
    """Multiply-accumulates per second of a 1024^3 matrix product here: the
    best of 8 products, or with ``typical`` their median (on a VM whose
    neighbour takes a core now and then, the best can be a quiet moment's
    and the median not)."""
    a = torch.randn(1024, 1024, device=device, dtype=dtype)
    b = torch.randn(1024, 1024, device=device, dtype=dtype)
    seconds = []
    for _ in range(8):
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return 1024**3 / (statistics.median(seconds) if typical else
                      min(seconds))


class QuietGate:
    """Holds every timing round to a quiet machine (``--wait-quiet``):
    before a round, ``samples`` matmul samples in a row (each the median of
    :func:`matmul_rate`) must reach ``rate``; after it, one more must, or
    the round is thrown away and timed again (a neighbour of a VM came
    during it; another job, or a busy neighbour, slows memory-bound models
    more than the matmul).  Once ``timeout`` seconds have passed, rounds are
    kept as they come and :meth:`summary` says how many were not quiet.
    """

    def __init__(self, device: torch.device, rate: float, timeout: float,
                 samples: int = 3, pause: float = 5.0):
        self.device, self.rate, self.timeout = device, rate, timeout
        self.samples, self.pause = samples, pause
        self.start = time.monotonic()
        self.last = 0.0
        self.redone = self.kept_not_quiet = self.kept = 0

    def out_of_time(self) -> bool:
        return time.monotonic() - self.start >= self.timeout

    def quiet_now(self) -> bool:
        self.last = matmul_rate(self.device, typical=True)
        return self.last >= self.rate

    def wait(self) -> bool:
        """Until ``samples`` samples in a row reach the rate (True), or
        the time is out (False)."""
        in_a_row = 0
        while not self.out_of_time():
            in_a_row = in_a_row + 1 if self.quiet_now() else 0
            if in_a_row >= self.samples:
                return True
            if not in_a_row:
                time.sleep(self.pause)
        return False

    def verdict(self, quiet_before: bool) -> Tuple[bool, bool]:
        """After work that :meth:`wait` preceded (``quiet_before``, its
        answer): ``(keep it, quiet throughout)``; kept when the machine is
        still quiet (one more sample), or when no time is left to do the
        work again."""
        quiet = self.quiet_now() and quiet_before
        return quiet or self.out_of_time(), quiet

    def keep(self, quiet_before: bool) -> bool:
        """After a timing round: :meth:`verdict`, counted for
        :meth:`summary`."""
        keep, quiet = self.verdict(quiet_before)
        if not keep:
            self.redone += 1
            return False
        self.kept += 1
        self.kept_not_quiet += not quiet
        return True

    def summary(self) -> str:
        """How the rounds were held, for the table's header."""
        waited = time.monotonic() - self.start
        rule = (f'a float32 matmul at {self.rate / 1e9:.0f} GMAC/s or more '
                f'(median of 8) {self.samples} times in a row before each '
                f'round and once after it')
        if not self.kept_not_quiet:
            return (f'every round timed on a quiet machine: {rule} '
                    f'(rounds timed again: {self.redone}; {waited:.0f} s '
                    f'in all)')
        return (f'NOT QUIET: {self.kept_not_quiet} of {self.kept} rounds '
                f'kept without {rule}, the wait ended after '
                f'{self.timeout:.0f} s (rounds timed again: {self.redone}; '
                f'last sample {self.last / 1e9:.0f} GMAC/s)')


def relative_difference(reference, outputs) -> Optional[float]:
    """Largest relative difference over all outputs; None when the outputs
    do not have the same shapes (different models)."""
    ref, out = flatten_outputs(reference), flatten_outputs(outputs)
    if len(ref) != len(out) or any(r.shape != o.shape
                                   for r, o in zip(ref, out)):
        return None
    return max(relative_differences([o.to(r.device) for r, o in
                                     zip(ref, out)], ref))


def time_round(entries: List[Entry], rewarm: int, device) -> List[float]:
    """One call of each entry in turn (interleaved: drift hits every
    model), each after ``rewarm`` untimed calls; seconds per entry."""
    seconds = []
    for entry in entries:
        for _ in range(rewarm):  # the caches hold the last model's weights
            entry()
        synchronize(device)
        start = time.perf_counter()
        entry()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def time_entries(entries: List[Entry], settings: Settings, device,
                 gate: Optional[QuietGate] = None) -> None:
    """Warm-up, then ``settings.reps`` rounds into ``entry.times``; with a
    ``gate``, only rounds it keeps."""
    autocast = torch.autocast('cuda', dtype=torch.float16,
                              enabled=settings.fp16)
    with torch.inference_mode(), autocast:
        for entry in entries:
            entry.outputs = entry()
            if settings.end_to_end:  # agreement is the tests' job here:
                entry.outputs = None  # untrained boxes tie in NMS order
            for _ in range(settings.warmup):
                entry()
        kept = 0
        while kept < settings.reps:
            quiet_before = gate.wait() if gate is not None else True
            seconds = time_round(entries, settings.rewarm, device)
            if gate is not None and not gate.keep(quiet_before):
                continue
            for entry, spent in zip(entries, seconds):
                entry.times.append(spent)
            kept += 1


# a profile whose operators sum to more than this times the entry's median
# call was taken while something slowed the machine that the matmul
# samples did not catch (memory-bound layers slow down most); it is taken
# again, at most PROFILE_TAKES times in all, and the least of the takes kept
PROFILE_SLACK = 1.3
PROFILE_TAKES = 3


def profile_entries(entries: List[Entry], settings: Settings,
                    gate: Optional[QuietGate] = None) -> int:
    """Each entry whose runtime has a profiler is run again by a profiling
    copy of itself (after the timing, so the profiler's own cost stays
    out of the times), ``warmup + reps`` calls: ``entry.op_times``,
    seconds per call by operator type over the ``reps`` calls after the
    warm-up (a session's first call allocates and prepares).  With a
    ``gate``, each profile is held to a quiet machine as a timing round
    is, and taken again when the machine was not quiet after it, until
    the gate's time is out, or when its operators took more than
    ``PROFILE_SLACK`` times the entry's median call (up to
    ``PROFILE_TAKES`` takes, the least kept).  Returns how many profiles
    were taken again."""
    again = 0
    for entry in entries:
        if entry.profiled is None:
            continue
        median = statistics.median(entry.times) if entry.times else None
        takes = []
        while True:
            try:
                runner = entry.profiled()
            except ArtefactError:  # no profiler (LiteRT, ExecuTorch, MNN)
                break
            quiet_before = gate.wait() if gate is not None else True
            for _ in range(settings.warmup + settings.reps):
                runner(entry.inputs)
            quiet = gate is None or gate.verdict(quiet_before)[0]
            if quiet:
                takes.append({op: seconds / settings.reps for op, seconds in
                              runner.session.op_times(
                                  settings.warmup).items()})
                steady = median is None or \
                    sum(takes[-1].values()) <= PROFILE_SLACK * median
                if gate is None or steady or gate.out_of_time() or \
                        len(takes) >= PROFILE_TAKES:
                    break
            again += 1
        if takes:
            entry.op_times = min(takes, key=lambda t: sum(t.values()))
    return again


def profile_markdown(rows: List[dict], top: int = 8) -> str:
    """Per profiled row: the runtime's operator time, the share of it in
    layout operators (its runtime's ``layout_ops``) and the largest shares
    by type."""
    lines = ['| model | mode | ms in operators | layout ops | largest '
             'shares (runtime profiler; ncnn: layer by layer) |',
             '|---|---|---|---|---|']
    for row in rows:
        times = row.get('op_times')
        if not times:
            continue
        total = sum(times.values())
        layout_names = layout_ops(mode_backend(row['mode']))
        layout = sum(t for op, t in times.items() if op in layout_names)
        largest = sorted(times.items(), key=lambda kv: -kv[1])[:top]
        shares = ', '.join(f'{op} {t / total:.1%}' for op, t in largest)
        lines.append(f"| {row['model']} | {row['mode']} | "
                     f"{total * 1e3:.2f} | {layout / total:.1%} | "
                     f"{shares} |")
    return '\n'.join(lines)


def table_rows(entries: List[Entry], batch: int, rate: float) -> List[dict]:
    rows = []
    for entry in entries:
        median = statistics.median(entry.times)
        reference = next(e for e in entries if entry.outputs is None or
                         relative_difference(e.outputs, entry.outputs)
                         is not None)
        diff = None if reference is entry or entry.outputs is None else \
            relative_difference(reference.outputs, entry.outputs)
        rows.append(dict(
            model=entry.name, mode=entry.mode, batch=batch,
            median_ms=median * 1e3, min_ms=min(entry.times) * 1e3,
            images_per_s=batch / median,
            gmacs=None if entry.macs is None else entry.macs / 1e9,
            matmul_share=None if entry.macs is None else
            entry.macs / median / rate,
            max_rel_diff=diff, op_times=entry.op_times,
            vs=None if reference is entry else reference.name + ' ' +
            reference.mode))
    return rows


def markdown(rows: List[dict], header: str) -> str:
    def fmt(value, pattern):
        return '-' if value is None else pattern.format(value)
    lines = [header, '',
             '| model | mode | ms (median) | ms (min) | images/s | GMACs | '
             'share of matmul rate | max diff vs first |',
             '|---|---|---|---|---|---|---|---|']
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['mode']} | {row['median_ms']:.1f} | "
            f"{row['min_ms']:.1f} | {row['images_per_s']:.1f} | "
            f"{fmt(row['gmacs'], '{:.2f}')} | "
            f"{fmt(row['matmul_share'], '{:.0%}')} | "
            f"{fmt(row['max_rel_diff'], '{:.1e}')} |")
    return '\n'.join(lines)


def machine(device: torch.device) -> str:
    """The processor (or GPU) a figure comes from, in words."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as handle:
            cpu = next(line.split(':', 1)[1].strip() for line in handle
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{cpu}, {os.cpu_count()} cores'


def benchmark(settings: Settings) -> Tuple[List[dict], str]:
    """Time every entry of ``settings``; returns the table's rows and its
    header (machine, threads, matmul rate, method)."""
    device = torch.device(settings.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UsageError('--device cuda, but no CUDA GPU is visible')
    if settings.fp16 and device.type != 'cuda':
        raise UsageError('--fp16 needs a CUDA device')
    if settings.end_to_end and device.type != 'cpu':
        raise UsageError('--end-to-end runs on CPU')
    # the converted models live as long as the run (hundreds of MB for a
    # few segmentors), also when it fails
    with tempfile.TemporaryDirectory(prefix='benchmark-',
                                     ignore_cleanup_errors=True) as scratch:
        entries = end_to_end_entries(settings, scratch) if \
            settings.end_to_end else network_entries(settings, device,
                                                     scratch)
        gate = None if settings.quiet_rate is None else QuietGate(
            device, settings.quiet_rate, settings.quiet_timeout)
        rate = matmul_rate(device)
        time_entries(entries, settings, device, gate)
        rate = max(rate, matmul_rate(device))
        quiet = '' if gate is None else '; ' + gate.summary()
        if settings.profile:
            again = profile_entries(entries, settings, gate)
            if gate is not None:
                quiet += (f'; the profiles held to the same quiet machine, '
                          f'and taken again when their operators summed '
                          f'over {PROFILE_SLACK}x the median call (at most '
                          f'{PROFILE_TAKES} takes, the least kept; taken '
                          f'again: {again})')
        rows = table_rows(entries, settings.batch, rate)
    where = f'{machine(device)}; ' + (
        f'{torch.get_num_threads()} threads' if device.type == 'cpu' else
        'CUDA') + f', torch {torch.__version__}'
    header = (f'{where}; batch {settings.batch}, float32 matmul '
              f'{rate / 1e9:.0f} GMAC/s{quiet}; {settings.reps} interleaved '
              f'rounds after {settings.warmup} warm-up calls, '
              f'{settings.rewarm} untimed call(s) before each timed one'
              f'{", fp16 autocast" if settings.fp16 else ""}.')
    return rows, header
