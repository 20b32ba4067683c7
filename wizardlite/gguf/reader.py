"""A small reader for the GGUF container: metadata and tensors.

Why a reader of our own: gguf.GGUFReader builds a Python object per array element, which
costs ~20 s per read on the 49k-token vocabulary of a small model; this one reads the
metadata with struct and numpy in well under a second.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wizardlite.errors import ModelError

# ---------------------------------------------------------------------------- GGUF reader

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
STRING, ARRAY = 8, 9


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # numpy order (rows first), the reverse of GGUF's dims
    ggml_type: int
    offset: int  # absolute offset in the file


class GGUFFile:
    """Metadata and tensors of a GGUF file, memory-mapped; tensors are read on demand."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            self._buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._pos = 0
        try:
            self._parse()
        except (struct.error, UnicodeDecodeError, ValueError, IndexError) as e:
            raise ModelError(f"{self.path}: not a readable GGUF file ({e}): re-download or re-export it") from None

    def _read(self, fmt: str) -> Any:
        (v,) = struct.unpack_from(fmt, self._buf, self._pos)
        self._pos += struct.calcsize(fmt)
        return v

    def _string(self) -> str:
        n = self._read("<Q")
        s = bytes(self._buf[self._pos:self._pos + n]).decode("utf-8")
        self._pos += n
        return s

    def _value(self, vtype: int) -> Any:
        if vtype == STRING:
            return self._string()
        if vtype == ARRAY:
            etype, n = self._read("<I"), self._read("<Q")
            if etype == STRING:
                return [self._string() for _ in range(n)]
            if etype in _NUMPY:
                arr = np.frombuffer(self._buf, dtype=_NUMPY[etype], count=n, offset=self._pos).copy()
                self._pos += arr.nbytes
                return arr
            return [self._value(etype) for _ in range(n)]
        return self._read(_SCALARS[vtype])

    def _parse(self) -> None:
        if bytes(self._buf[:4]) != b"GGUF":
            raise ValueError("bad magic")
        self._pos = 4
        self.version = self._read("<I")
        n_tensors, n_kv = self._read("<Q"), self._read("<Q")
        self.meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = self._string()
            self.meta[key] = self._value(self._read("<I"))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            dims = [self._read("<Q") for _ in range(self._read("<I"))]
            infos.append((name, tuple(reversed(dims)), self._read("<I"), self._read("<Q")))
        align = int(self.meta.get("general.alignment", 32))
        start = (self._pos + align - 1) // align * align
        self.tensors = {n: TensorInfo(n, s, t, start + o) for n, s, t, o in infos}

    def tensor(self, name: str) -> np.ndarray:
        """A tensor as float32, dequantized, in numpy (rows-first) order."""
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
        from gguf.quants import dequantize

        info = self.tensors[name]
        qtype = GGMLQuantizationType(info.ggml_type)
        block, size = GGML_QUANT_SIZES[qtype]
        n = int(np.prod(info.shape))
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=n // block * size, offset=info.offset)
        if qtype == GGMLQuantizationType.F32:
            return raw.view("<f4").reshape(info.shape).copy()
        if qtype == GGMLQuantizationType.F16:
            return raw.view("<f2").astype(np.float32).reshape(info.shape)
        rows = raw.reshape(-1, info.shape[-1] // block * size)
        return dequantize(rows, qtype).astype(np.float32).reshape(info.shape)

    def close(self) -> None:
        self._buf.close()
