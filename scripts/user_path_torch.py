#!/usr/bin/env python3
# The PyTorch side of scripts/user-path.js: the same rows, written as a PyTorch user would, medians
# in ms. Run with the thread count selfsup uses, e.g.
#   OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 /usr/bin/python3 scripts/user_path_torch.py [--json]
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "peers"))
from ssl_losses import info_nce  # noqa: E402  (the textbook InfoNCE)
from vit_model import ViT  # noqa: E402  (the bench's torch ViT)

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))


def timeit(fn, min_ms=400, min_reps=5):
    for _ in range(2):
        fn()
    ts = []
    start = time.perf_counter()
    while len(ts) < min_reps or (time.perf_counter() - start) * 1e3 < min_ms:
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
        if len(ts) > 2000:
            break
    ts.sort()
    return ts[len(ts) // 2]


rows = []


def row(name, fn, min_ms=400):
    rows.append({"name": name, "ms": timeit(fn, min_ms)})


g0 = torch.Generator().manual_seed(0)
x = torch.randn(64, 196, 384, generator=g0)
y = torch.randn(64, 196, 384, generator=g0)
bias = torch.randn(384, generator=g0)
row("add [64,196,384]", lambda: x.add(y))
row("mul 1.5", lambda: x.mul(1.5))
row("add bias[384]", lambda: x.add(bias))
row("sum", lambda: x.sum())
row("sum(-1)", lambda: x.sum(-1))
row("sum([0,1])", lambda: x.sum([0, 1]))
row("softmax(-1)", lambda: x.softmax(-1))
w = x.clone().requires_grad_()
g = torch.randn(64, 196, 384, generator=g0)
w.mul(2).backward(g)
row("grad accumulation w.mul(2).backward(g)", lambda: w.mul(2).backward(g))
sw = x.clone().requires_grad_()


def sm_step():
    sw.grad = None
    sw.softmax(-1).backward(g)


row("softmax(-1) fwd+bwd", sm_step)
a4, b4 = torch.randn(4, 4), torch.randn(4, 4)


def small():
    for _ in range(1000):
        a4.add(b4)


row("1000 x small add [4,4]", small)

B, N, D, K = 64, 196, 384, 49
xg = torch.randn(B, N, D, generator=g0).requires_grad_()
idx = torch.tensor([[(k * 4 + b) % N for k in range(K)] for b in range(B)])


def gather():
    xg.grad = None
    torch.gather(xg, 1, idx.unsqueeze(-1).repeat(1, 1, D)).sum().backward()


row("gatherTokens(x, idx).sum().backward() B64 N196 D384 K49", gather)
for (B, H, N, d) in [(8, 6, 197, 64), (4, 12, 197, 64), (1, 8, 1024, 64)]:
    q, k, v = (torch.randn(B, H, N, d, generator=g0).requires_grad_() for _ in range(3))

    def attn(q=q, k=k, v=v, d=d):
        q.grad = k.grad = v.grad = None
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = torch.softmax(q @ k.transpose(-2, -1) * d ** -0.5, -1) @ v
        o.sum().backward()

    row(f"attention(q,k,v).sum().backward() B{B} H{H} N{N} d{d}", attn)


for (N, D) in [(256, 128), (1024, 256)]:
    z1 = torch.randn(N, D, generator=g0).requires_grad_()
    z2 = torch.randn(N, D, generator=g0).requires_grad_()

    def nce(z1=z1, z2=z2):
        z1.grad = z2.grad = None
        info_nce(z1, z2).backward()

    row(f"infoNCE(a,b).backward() N{N} D{D}", nce)


torch.manual_seed(0)
model = ViT({"image": 64, "patch": 8, "channels": 3, "dim": 256, "depth": 3, "heads": 4})
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
v1 = torch.randn(32, 3, 64, 64, generator=g0)
v2 = torch.randn(32, 3, 64, 64, generator=g0)


def vit_step():
    opt.zero_grad(set_to_none=True)
    loss = info_nce(model(v1).mean(1), model(v2).mean(1))
    loss.backward()
    opt.step()


def vit_fwd():
    with torch.no_grad():
        model(v1)


row("ViT step: two views, InfoNCE, backward, AdamW (64px, p8, dim 256, depth 3, B32)", vit_step, 3000)
row("ViT forward only (same model, one view, noGrad)", vit_fwd, 2000)

if "--json" in sys.argv:
    print(json.dumps({"torch": torch.__version__, "rows": rows}, indent=1))
else:
    for r in rows:
        print(f"{r['ms']:10.3f} ms  {r['name']}")
