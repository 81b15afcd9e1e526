"""PyTorch peer for `selfsup bench --vs torch`.

One process serves every workload: requests are JSON lines on stdin, answers JSON lines on stdout
(anything torch prints goes to stderr). Requests:
  {"cmd": "hello", "threads": N}
      -> {"ok": true, "torch": version, "threads": N, "blas": {...}, "sdpa": bool, "python": version}
  {"cmd": "run", "source": py, "shape": {...}, "dtype": "float32", "mode": "fwd", "device": "cpu",
   "warmup": W, "minRepeats": R, "minSeconds": S, "maxSeconds": M, "floorRepeats": F}
      -> {"ok": true, "samples": [seconds, ...]} or {"ok": false, "error": "..."}
  {"cmd": "quit"}
`source` defines setup(shape, dtype) returning run(mode): the textbook PyTorch composition of the
workload (bench/types.ts). The repeat rule is the same as bench/runner.ts keepGoing().
With "device": "cuda" the unchanged source runs on the GPU: setup and every run execute under
`with torch.device("cuda")` (factory functions allocate there), `torch.Generator()` in the source
makes a cuda generator, and each timed run ends with torch.cuda.synchronize().
"""
import contextlib
import json
import os
import platform
import re
import sys
import time
import traceback

_out = sys.stdout
sys.stdout = sys.stderr  # keep stray prints out of the protocol channel

import torch  # noqa: E402


def reply(obj):
    _out.write(json.dumps(obj) + "\n")
    _out.flush()


def blas_info():
    """Which BLAS is really mapped into this process (Debian's torch links libblas.so.3, which the
    alternatives system points at the reference BLAS, OpenBLAS or BLIS)."""
    # A product large enough to make torch call into BLAS (and load it, if it is lazy).
    a = torch.randn(64, 64)
    (a @ a).sum().item()
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6:
                    p = parts[-1]
                    base = os.path.basename(p)
                    if any(k in base for k in ("blas", "mkl", "blis", "lapack")):
                        libs.add(os.path.realpath(p))
    except OSError:
        pass
    config = ""
    try:
        config = torch.__config__.show()
    except Exception:  # noqa: BLE001
        pass
    # Only the BLAS-related settings of the (long) build-settings line.
    blas_cfg = " ".join(re.findall(r"\b(?:BLAS_INFO|LAPACK_INFO|USE_MKL)=[^,\s]*", config))
    libs = sorted(libs)
    joined = " ".join(libs).lower()
    if "mkl" in joined:
        kind = "mkl"
    elif "openblas" in joined:
        kind = "openblas"
    elif "blis" in joined:
        kind = "blis"
    elif any(os.path.basename(l).startswith("libblas") for l in libs):
        # libblas.so.3 resolving to the netlib reference implementation (/usr/lib/<arch>/blas/).
        kind = "reference"
    elif "mkl" in blas_cfg.lower():
        kind = "mkl"
    elif "open" in blas_cfg.lower():
        kind = "openblas"
    else:
        kind = "unknown"
    return {"kind": kind, "libraries": libs, "config": blas_cfg.strip()}


def keep_going(n, elapsed, r):
    if n < r["floorRepeats"]:
        return True
    if elapsed >= r["maxSeconds"]:
        return False
    return n < r["minRepeats"] or elapsed < r["minSeconds"]


class _TorchOn:
    """The torch module as a workload's source sees it on a device: torch.Generator() there."""

    def __init__(self, device):
        self._device = device

    def __getattr__(self, name):
        if name == "Generator":
            return lambda *a, **kw: torch.Generator(device=self._device)
        return getattr(torch, name)


def run(r):
    device = r.get("device", "cpu")
    on_cuda = device == "cuda"
    ns = {"torch": _TorchOn(device) if on_cuda else torch, "__name__": "selfsup_bench_peer"}
    exec(compile(r["source"], "<workload %s>" % r.get("name", "?"), "exec"), ns)
    # torch.device as a context manager needs torch 2.x; the cpu path keeps working on 1.13.
    ctx = torch.device(device) if on_cuda else contextlib.nullcontext()
    with ctx:
        fn = ns["setup"](r["shape"], r["dtype"])
    mode = r["mode"]

    def once():
        with ctx:
            fn(mode)
        if on_cuda:
            torch.cuda.synchronize()

    for _ in range(r["warmup"]):
        once()
    samples = []
    elapsed = 0.0
    while keep_going(len(samples), elapsed, r):
        t0 = time.perf_counter()
        once()
        dt = time.perf_counter() - t0
        samples.append(dt)
        elapsed += dt
    del fn, ns
    return samples


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            r = json.loads(line)
            cmd = r.get("cmd")
            if cmd == "quit":
                break
            if cmd == "hello":
                t = int(r.get("threads") or 0)
                if t > 0:
                    torch.set_num_threads(t)
                reply({
                    "ok": True,
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "blas": blas_info(),
                    "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"),
                    "python": platform.python_version(),
                    "executable": sys.executable,
                })
            elif cmd == "run":
                reply({"ok": True, "samples": run(r)})
            else:
                reply({"ok": False, "error": "unknown command %r" % cmd})
        except Exception as e:  # noqa: BLE001
            tb = traceback.format_exc().strip().splitlines()
            reply({"ok": False, "error": "%s: %s" % (type(e).__name__, e), "trace": tb[-6:]})


if __name__ == "__main__":
    main()
