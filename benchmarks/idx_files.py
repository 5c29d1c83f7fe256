"""The Fashion-MNIST IDX files as numpy arrays, for the comparison scripts.

read_idx takes the file with or without .gz (Debian's dataset package ships them
compressed; an unpacked copy works as well) and exits with a message naming the file
when it is missing or its header disagrees with its contents.
"""
import gzip
import os
import struct
import sys

import numpy as np

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_idx(path, magic):
    candidates = [path, path[:-3]] if path.endswith(".gz") else [path + ".gz", path]
    for candidate in candidates:
        if os.path.exists(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as f:
                raw = f.read()
            break
    else:
        sys.exit(f"{path}: not found, with or without .gz (set --data or GPU_TUNE_DATA to the Fashion-MNIST directory)")
    found, = struct.unpack(">I", raw[:4])
    if found != magic:
        sys.exit(f"{candidate}: magic 0x{found:08x}, expected 0x{magic:08x}")
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        sys.exit(f"{candidate}: header promises {shape} but holds {data.size} bytes")
    return data.reshape(shape)
