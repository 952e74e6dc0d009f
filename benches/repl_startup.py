#!/usr/bin/env python3
"""How fast the REPL is ready: the time from starting `monologue` in a
terminal until its prompt appears, without a model and with SmolLM2 loaded
(`--model smollm2`, memory-mapped). Median of several starts.

    python3 benches/repl_startup.py [path/to/monologue] [runs]
"""

import os
import pty
import select
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/monologue")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 9
PROMPT = "»".encode()


def time_to_prompt(args):
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.environ["MONOLOGUE_HISTORY"] = "/dev/null"
        os.execv(BINARY, [BINARY, *args])
    seen = b""
    try:
        while PROMPT not in seen:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                raise TimeoutError("no prompt within 30 s")
            seen += os.read(fd, 4096)
        return (time.perf_counter() - start) * 1e3
    finally:
        os.write(fd, b"\x04")  # Ctrl-D
        os.waitpid(pid, 0)
        os.close(fd)


def main():
    print("| REPL start | median ms | min ms | max ms |")
    print("|------------|----------:|-------:|-------:|")
    for label, args in [("no model", []), ("--model smollm2", ["--model", "smollm2"])]:
        time_to_prompt(args)  # warm the page cache
        times = [time_to_prompt(args) for _ in range(RUNS)]
        print(f"| {label} | {statistics.median(times):.1f} | {min(times):.1f} | {max(times):.1f} |")


if __name__ == "__main__":
    main()
