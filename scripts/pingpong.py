#!/usr/bin/env python3
# Elementwise / reduction / softmax rows of the user-path table, selfsup against PyTorch, measured
# in turns: both processes stay alive and take turns in short bursts (default 25 calls each), so
# that both sides see the same state of a shared machine. On a VM whose memory bandwidth drifts by
# 2x over minutes (a plain OpenMP C loop included), separate runs cannot compare memory-bound rows;
# turns of a few tens of milliseconds can. Prints, per row, each side's median and the median of
# the per-turn ratios (torch / selfsup) with its quartiles.
#   OPENBLAS_NUM_THREADS=2 /usr/bin/python3 scripts/pingpong.py [--turns 40] [--reps 25] [--gap-ms 20]
#       [--mode tidy|plain] [--rows 'add;sum(-1)'] [--addon A=a.node --addon B=b.node] [--json]
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "peers"))
from ssl_losses import info_nce  # noqa: E402  (the textbook InfoNCE)
from vit_model import ViT  # noqa: E402  (the bench's torch ViT)

ap = argparse.ArgumentParser()
ap.add_argument("--turns", type=int, default=40)
ap.add_argument("--reps", type=int, default=25)
ap.add_argument("--mode", choices=["plain", "tidy"], default="tidy")
ap.add_argument("--rows", default="")
ap.add_argument("--gap-ms", type=float, default=20.0)
ap.add_argument("--addon", action="append", default=[],
                help="LABEL=PATH: a selfsup worker on that addon build (SELFSUP_ADDON); repeat for an A/B")
ap.add_argument("--exe", action="append", default=[],
                help="LABEL=PROGRAM: another worker speaking the same protocol (e.g. a plain C loop)")
ap.add_argument("--json", action="store_true")
a = ap.parse_args()
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

here = os.path.dirname(os.path.abspath(__file__))
workers = {}
for spec in a.addon or ["selfsup="]:
    label, _, addon = spec.partition("=")
    env = dict(os.environ, **({"SELFSUP_ADDON": os.path.abspath(addon)} if addon else {}))
    proc = subprocess.Popen(["node", os.path.join(here, "pingpong-worker.js")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
    workers[label] = proc
    ready = json.loads(proc.stdout.readline())["ready"]
for spec in a.exe:
    label, _, prog = spec.partition("=")
    proc = subprocess.Popen([prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    workers[label] = proc
    json.loads(proc.stdout.readline())
labels = list(workers)

g0 = torch.Generator().manual_seed(0)
x = torch.randn(64, 196, 384, generator=g0)
y = torch.randn(64, 196, 384, generator=g0)
bias = torch.randn(384, generator=g0)
w = x.clone().requires_grad_()
g = torch.randn(64, 196, 384, generator=g0)
w.mul(2).backward(g)
sw = x.clone().requires_grad_()
B, N, D, K = 64, 196, 384, 49
xg = torch.randn(B, N, D, generator=g0).requires_grad_()
idx = torch.tensor([[(k * 4 + b) % N for k in range(K)] for b in range(B)])


def sm_fb():
    sw.grad = None
    sw.softmax(-1).backward(g)


def gather():
    xg.grad = None
    torch.gather(xg, 1, idx.unsqueeze(-1).repeat(1, 1, D)).sum().backward()


rows = {
    "add": lambda: x.add(y), "mul": lambda: x.mul(1.5), "bias": lambda: x.add(bias),
    "sum": lambda: x.sum(), "sum(-1)": lambda: x.sum(-1), "sum([0,1])": lambda: x.sum([0, 1]),
    "softmax": lambda: x.softmax(-1), "gradacc": lambda: w.mul(2).backward(g),
    "softmax-fb": sm_fb, "gather": gather,
}
for (B, H, N, d) in [(8, 6, 197, 64), (4, 12, 197, 64), (1, 8, 1024, 64)]:
    q, k, v = (torch.randn(B, H, N, d, generator=g0).requires_grad_() for _ in range(3))

    def attn(q=q, k=k, v=v):
        q.grad = k.grad = v.grad = None
        F.scaled_dot_product_attention(q, k, v).sum().backward() if hasattr(F, "scaled_dot_product_attention") \
            else (torch.softmax(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5, -1) @ v).sum().backward()

    rows[f"attention-B{B}H{H}N{N}"] = attn


for (N, D) in [(256, 128), (1024, 256)]:
    z1 = torch.randn(N, D, generator=g0).requires_grad_()
    z2 = torch.randn(N, D, generator=g0).requires_grad_()

    def nce(z1=z1, z2=z2):
        z1.grad = z2.grad = None
        info_nce(z1, z2).backward()

    rows[f"infoNCE-N{N}D{D}"] = nce


def vit_rows(name, shape):
    st = {}

    def init():
        torch.manual_seed(0)
        model = ViT(shape)
        st.update(model=model, opt=torch.optim.AdamW(model.parameters(), lr=1e-4),
                  x=torch.randn(shape["batch"], shape["channels"], shape["image"], shape["image"]))

    def step():
        if not st:
            init()
        st["opt"].zero_grad(set_to_none=True)
        st["model"](st["x"]).pow(2).mean().backward()
        st["opt"].step()

    def fwd():
        if not st:
            init()
        with torch.no_grad():
            st["model"](st["x"]).pow(2).mean()

    rows[name], rows[name + "-fwd"] = step, fwd


vit_rows("vit-tiny-b64", {"batch": 64, "image": 32, "patch": 8, "channels": 3, "dim": 192, "depth": 4, "heads": 3})
vit_rows("vit-s64-b32", {"batch": 32, "image": 64, "patch": 8, "channels": 3, "dim": 384, "depth": 4, "heads": 6})
names = [r for r in (a.rows.split(";") if a.rows else ready) if r in rows]


def med(v):
    v = sorted(v)
    return v[len(v) // 2]


def q(v, f):
    v = sorted(v)
    return v[min(len(v) - 1, int(f * len(v)))]


out = []
for name in names:
    fn = rows[name]
    for _ in range(3):
        fn()
    for proc in workers.values():
        proc.stdin.write(f"{name} 3 {a.mode}\n")
        proc.stdout.readline()
    times = {lab: [] for lab in ["torch"] + labels}
    ratios = {lab: [] for lab in labels}
    sides = ["torch"] + labels
    for t in range(a.turns):
        tt = {}
        # Rotate which side goes first in a turn.
        for j in range(len(sides)):
            side = sides[(j + t) % len(sides)]
            # A pause between the sides' bursts: OpenMP workers (torch's) spin for milliseconds
            # after a parallel region, and on 2 cores a spinning thread halves the other side's.
            time.sleep(a.gap_ms / 1e3)
            if side == "torch":
                ts = []
                for _ in range(a.reps):
                    t0 = time.perf_counter()
                    fn()
                    ts.append((time.perf_counter() - t0) * 1e3)
            else:
                workers[side].stdin.write(f"{name} {a.reps} {a.mode}\n")
                ts = json.loads(workers[side].stdout.readline())
            times[side] += ts
            tt[side] = med(ts)
        for lab in labels:
            ratios[lab].append(tt["torch"] / tt[lab])
    r = {"row": name, "torchMs": med(times["torch"])}
    for lab in labels:
        r[lab] = {"ms": med(times[lab]), "ratio": med(ratios[lab]), "q1": q(ratios[lab], 0.25), "q3": q(ratios[lab], 0.75)}
    out.append(r)
for proc in workers.values():
    proc.stdin.close()
    proc.wait()
if a.json:
    print(json.dumps({"mode": a.mode, "turns": a.turns, "reps": a.reps, "gapMs": a.gap_ms, "rows": out}, indent=1))
else:
    print(f"{' and '.join(labels)} ({a.mode}) vs torch {torch.__version__}: {a.turns} turns of {a.reps} calls a side; medians in ms;")
    print("ratio = median over turns of torch / selfsup (quartiles)")
    print(f"{'torch':>9} " + "".join(f"{lab:>9} {'ratio (q1-q3)':<19}" for lab in labels) + "row")
    for r in out:
        line = f"{r['torchMs']:9.3f} "
        for lab in labels:
            x = r[lab]
            line += f"{x['ms']:9.3f} " + f"{x['ratio']:.2f}x ({x['q1']:.2f}-{x['q3']:.2f})".ljust(19)
        print(line + r["row"])
