"""Reading MXNet/Gluon ``.params`` files without MXNet.

``Block.save_parameters`` (MXNet 1.x) writes ``mx.nd.save`` of a name ->
NDArray dict.  The layout, little-endian and unaligned::

    uint64 0x112, uint64 0, uint64 N
    N times: uint32 0xF993FAC9 (0xF993FACA under numpy shape semantics),
             int32 storage type (0 = dense), int32 ndim, ndim x int64 dims,
             int32 dev_type, int32 dev_id, int32 dtype flag, the data (C order)
    uint64 M (N for named arrays, 0 for a list), M times uint64 length + UTF-8

Every malformed file ends in :class:`MXNetParamsError`, which names the file,
the byte offset and what is wrong, never in a numpy or struct error.
"""
import struct
from collections import OrderedDict
from typing import Dict

import numpy as np
import torch

from ..errors import MXNetParamsError

FILE_MAGIC = 0x112
LEGACY_ARRAY_MAGIC = 0xF993FAC9  # ndim 0 means "no shape"
NUMPY_ARRAY_MAGIC = 0xF993FACA   # ndim 0 is a scalar, -1 "no shape"
DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8,
          4: np.int32, 5: np.int8, 6: np.int64, 7: np.bool_}
MAX_NDIM = 32


def is_mxnet_params(path: str) -> bool:
    """Whether the file starts like an MXNet NDArray file."""
    with open(path, 'rb') as handle:
        head = handle.read(16)
    return head == struct.pack('<QQ', FILE_MAGIC, 0)


class _Cursor:
    """Sequential reads over the file's bytes that fail with the offset."""

    def __init__(self, data: bytes, path: str):
        self.data, self.path, self.offset = data, path, 0

    def fail(self, problem: str):
        raise MXNetParamsError(
            f'{self.path} is not a valid MXNet .params file: {problem} (at '
            f'byte {self.offset} of {len(self.data)}).')

    def take(self, size: int, what: str) -> bytes:
        if size > len(self.data) - self.offset:
            self.fail(f'the file ends inside {what} ({size} bytes needed, '
                      f'{len(self.data) - self.offset} left): it is '
                      f'truncated')
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def _read_array(cursor: _Cursor, index: int) -> np.ndarray:
    what = f'array {index}'
    (magic, ) = cursor.unpack('<I', f'the header of {what}')
    if magic not in (LEGACY_ARRAY_MAGIC, NUMPY_ARRAY_MAGIC):
        cursor.fail(f'{what} starts with 0x{magic:08X}, not an NDArray '
                    f'marker (0xF993FAC9)')
    stype, ndim = cursor.unpack('<ii', f'the header of {what}')
    if stype != 0:
        cursor.fail(f'{what} has storage type {stype}; only dense arrays '
                    f'(0) are supported')
    no_shape = ndim == (0 if magic == LEGACY_ARRAY_MAGIC else -1)
    if no_shape or not 0 <= ndim <= MAX_NDIM:
        cursor.fail(f'{what} has no valid shape (ndim {ndim})')
    dims = cursor.unpack(f'<{ndim}q', f'the shape of {what}')
    if any(d < 0 for d in dims):
        cursor.fail(f'{what} has a negative dimension {dims}')
    _, _, flag = cursor.unpack('<iii', f'the header of {what}')
    if flag not in DTYPES:
        cursor.fail(f'{what} has unknown dtype flag {flag}')
    dtype = np.dtype(DTYPES[flag])
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    raw = cursor.take(count * dtype.itemsize,
                      f'the data of {what} ({list(dims)} {dtype.name})')
    return np.frombuffer(raw, dtype=dtype).reshape(dims)


def read_mxnet_params(path: str) -> Dict[str, torch.Tensor]:
    """Named arrays of an MXNet ``.params`` file as CPU tensors, in file
    order.

    Raises:
        MXNetParamsError: bad magic, a truncated file, an unsupported array,
            names that do not pair with the arrays, or trailing bytes.
    """
    with open(path, 'rb') as handle:
        cursor = _Cursor(handle.read(), path)
    magic, reserved, count = cursor.unpack('<QQQ', 'the file header')
    if magic != FILE_MAGIC or reserved != 0:
        cursor.offset = 0
        cursor.fail(f'bad magic 0x{magic:X}/{reserved} (expected 0x112/0): '
                    f'not an MXNet NDArray file')
    smallest_array = 28  # header fields of a 0-d array
    if count * smallest_array > len(cursor.data) - cursor.offset:
        cursor.fail(f'the header announces {count} arrays, more than the '
                    f'file can hold: it is truncated or corrupted')
    arrays = [_read_array(cursor, i) for i in range(count)]
    (num_names, ) = cursor.unpack('<Q', 'the name count')
    if num_names != count:
        cursor.fail(f'{num_names} names for {count} arrays' +
                    (' (an unnamed list, not saved parameters)'
                     if num_names == 0 else ''))
    names = []
    for i in range(num_names):
        (length, ) = cursor.unpack('<Q', f'the length of name {i}')
        raw = cursor.take(length, f'name {i}')
        try:
            names.append(raw.decode('utf-8'))
        except UnicodeDecodeError:
            cursor.fail(f'name {i} is not UTF-8')
    if cursor.offset != len(cursor.data):
        cursor.fail(f'{len(cursor.data) - cursor.offset} bytes follow the '
                    f'last name')
    if len(set(names)) != len(names):
        cursor.fail('a parameter name occurs twice')
    return OrderedDict((name, torch.from_numpy(array.copy()))
                       for name, array in zip(names, arrays))
