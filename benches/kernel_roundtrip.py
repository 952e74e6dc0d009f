#!/usr/bin/env python3
"""Jupyter round trip of a trivial cell (`1 + 1`): execute_request sent to
execute_reply received and the kernel idle again, for the Monologue kernel
and for IPython's ipykernel, in the same run.

    pip install ipykernel        # the peer
    python3 benches/kernel_roundtrip.py [ROUNDS]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
os.environ["JUPYTER_PATH"] = tempfile.mkdtemp(prefix="monologue-bench-")
subprocess.run([os.path.join(ROOT, "target", "release", "monologue-kernel"), "install"],
               check=True, capture_output=True)

from jupyter_client.manager import start_new_kernel  # noqa: E402


def round_trips(kernel_name, code, rounds):
    km, kc = start_new_kernel(kernel_name=kernel_name)
    try:
        times = []
        for i in range(rounds + 20):
            start = time.perf_counter()
            msg_id = kc.execute(code)
            while kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
                pass
            while True:
                m = kc.get_iopub_msg(timeout=30)
                if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                        and m["content"]["execution_state"] == "idle"):
                    break
            if i >= 20:  # warm-up rounds are not counted
                times.append(time.perf_counter() - start)
        return times
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print("| kernel | median ms | p90 ms |")
    print("|---|--:|--:|")
    for name in ["monologue", "python3"]:
        t = sorted(round_trips(name, "1 + 1", rounds))
        print(f"| {name} | {1e3 * statistics.median(t):.2f} | {1e3 * t[int(0.9 * len(t))]:.2f} |")


if __name__ == "__main__":
    main()
