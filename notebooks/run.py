#!/usr/bin/env python3
"""Execute every notebook here with its kernel (the Monologue kernel, or
evcxr's Rust kernel for rust.ipynb) and fail on any error (CI runs this).
With --write, save the fresh outputs into the files (how the committed
outputs are made).

    python3 notebooks/run.py [--write] [NOTEBOOK.ipynb ...]

The kernel is the one built in target/release, installed into a fresh
JUPYTER_PATH for the run; the notebooks run with this folder as their
working directory.
"""
import glob
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
KERNEL = os.path.join(ROOT, "target", "release", "monologue-kernel")

os.environ["JUPYTER_PATH"] = tempfile.mkdtemp(prefix="monologue-notebooks-")
subprocess.run([KERNEL, "install"], check=True, capture_output=True)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if a != "--write"]
    write = "--write" in sys.argv[1:]
    paths = args or sorted(glob.glob(os.path.join(HERE, "*.ipynb")))
    failed = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        start = time.time()
        # Generated tokens arrive one stream message each; stored merged.
        kernel = nb.metadata["kernelspec"]["name"]
        client = NotebookClient(nb, timeout=900, kernel_name=kernel, coalesce_streams=True,
                                resources={"metadata": {"path": HERE}})
        try:
            client.execute()
        except Exception as e:  # nbclient raises CellExecutionError with the cell and the error
            failed += 1
            print(f"FAILED {os.path.basename(path)}:\n{e}", file=sys.stderr)
            continue
        print(f"ok {os.path.basename(path)} ({time.time() - start:.1f} s)")
        if write:
            nbformat.write(nb, path)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
