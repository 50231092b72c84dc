"""Reads a RefAlign run file with h5py and prints its attributes and the last row of each series:
the check that run files are plain HDF5 any Python user can open.

usage: .venv-ref/bin/python Scripts/reference/read_run.py Results/runs/char-lm/run.h5
"""
import sys

import h5py

with h5py.File(sys.argv[1], "r") as f:
    for key in sorted(f.attrs):
        value = f.attrs[key]
        print(f"{key:18} {value.decode() if isinstance(value, bytes) else value}")
    for group in ("train", "eval"):
        for name in sorted(f[group]):
            data = f[f"{group}/{name}"]
            print(f"/{group}/{name:16} rows {data.shape[0]:6}  last {data[-1] if data.shape[0] else '-'}")
    if f["samples/step"].shape[0]:
        print("last sample:", f["samples/completion"].asstr()[-1][:80].replace("\n", " "))
