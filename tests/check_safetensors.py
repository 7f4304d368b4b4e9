#!/usr/bin/python3
"""Loads a psctl safetensors export with nothing but json and numpy, and
checks it against the PSX export of the same job, value for value (bits).

  /usr/bin/python3 tests/check_safetensors.py M.safetensors M.psx

Prints one line per table and "safetensors matches psx: N tables"; exits 1
with the reason on the first difference. Run by
tests/safetensors_export_test.cc; Debian's python3-numpy is needed.
"""
import json
import sys

import numpy as np


def load_safetensors(path):
    """(metadata, {name: array}) as any safetensors reader sees the file."""
    raw = open(path, "rb").read()
    n = int(np.frombuffer(raw, "<u8", 1, 0)[0])
    if (8 + n) % 8 != 0:
        sys.exit(f"{path}: data starts at {8 + n}, not a multiple of 8")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    dtypes = {"F32": "<f4", "U64": "<u8"}
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = np.dtype(dtypes[entry["dtype"]])
        if (8 + n + begin) % dtype.itemsize != 0:
            sys.exit(f"{path}: tensor {name} is not aligned")
        tensors[name] = np.frombuffer(data[begin:end], dtype).reshape(
            entry["shape"])
    return metadata, tensors


class Psx:
    """Reads fields off a PSX2 file (client/psctl/psx_format.h)."""

    def __init__(self, path):
        self.raw = open(path, "rb").read()
        self.at = 0

    def get(self, dtype, count=1):
        values = np.frombuffer(self.raw, dtype, count, self.at)
        self.at += values.nbytes
        return values

    def tables(self):
        assert self.raw[:4] == b"PSX2", "not a PSX2 file"
        self.at = 4
        out = []
        for _ in range(int(self.get("<u4")[0])):
            name_len = int(self.get("<u4")[0])
            name = self.raw[self.at:self.at + name_len].decode()
            self.at += name_len
            kind = int(self.get("<u4")[0])
            shape = [int(d) for d in self.get("<i8", int(self.get("<u4")[0]))]
            if kind == 0:
                values = self.get("<f4", int(self.get("<i8")[0]))
                out.append((name, shape, None, values))
            else:
                dim = int(self.get("<i4")[0])
                rows = int(self.get("<i8")[0])
                keys = self.get("<u8", rows)
                values = self.get("<f4", rows * dim).reshape(rows, dim)
                out.append((name, shape, keys, values))
        assert self.at == len(self.raw), "bytes after the last table"
        return out


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(
        a.view(np.uint32 if a.dtype.itemsize == 4 else np.uint64),
        b.view(np.uint32 if b.dtype.itemsize == 4 else np.uint64))


def main(safetensors_path, psx_path):
    metadata, tensors = load_safetensors(safetensors_path)
    psx = Psx(psx_path).tables()
    names = json.loads(metadata["tables"])
    if names != [t[0] for t in psx]:
        sys.exit(f"tables {names} but the psx export has "
                 f"{[t[0] for t in psx]}")
    used = set()
    for name, shape, keys, values in psx:
        if keys is None:
            want = values.reshape(shape if shape else [len(values)])
            got = tensors[name]
            used.add(name)
            if not same_bits(got, want):
                sys.exit(f"dense table {name} differs")
            print(f"{name}: dense {list(got.shape)}")
        else:
            got_keys = tensors[name + ".keys"]
            got_values = tensors[name + ".values"]
            used.update([name + ".keys", name + ".values"])
            if not same_bits(got_keys, keys) or not same_bits(got_values,
                                                              values):
                sys.exit(f"sparse table {name} differs")
            if json.loads(metadata["sparse." + name]) != shape:
                sys.exit(f"sparse table {name}: shape differs")
            print(f"{name}: sparse, {len(keys)} rows of {values.shape[1]}")
    if used != set(tensors):
        sys.exit(f"tensors of no table: {sorted(set(tensors) - used)}")
    print(f"safetensors matches psx: {len(psx)} tables, job "
          f"{metadata.get('job')}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
