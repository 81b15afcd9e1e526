#!/usr/bin/env python3
# The PyTorch side of scripts/tidy-ab.js: the same rows, three rounds of 100-call medians, the
# median round as JSON. OPENBLAS_NUM_THREADS=2 /usr/bin/python3 scripts/tidy_ab_torch.py
import torch, time, json
import torch.nn.functional as F
torch.set_num_threads(2)
shp=(64,196,384)
x=torch.randn(shp); y=torch.randn(shp); bias=torch.randn(384)
w=torch.randn(shp,requires_grad=True); g=torch.randn(shp)
w.mul(2).backward(g)
sw=torch.randn(shp,requires_grad=True)
a4=torch.randn(4,4); b4=torch.randn(4,4)
B,N,D,K=64,196,384,49
xg=torch.randn(B,N,D,requires_grad=True)
idx=torch.tensor([[(k*4+b)%N for k in range(K)] for b in range(B)])
def gath():
    xg.grad=None
    torch.gather(xg,1,idx.unsqueeze(-1).expand(B,K,D)).sum().backward()
def smb():
    sw.grad=None; sw.softmax(-1).backward(g)
def small():
    for i in range(1000): a4.add(b4)
rows={'add':lambda:x.add(y),'mul 1.5':lambda:x.mul(1.5),'add bias':lambda:x.add(bias),'sum':lambda:x.sum(),'sum(-1)':lambda:x.sum(-1),
'softmax':lambda:x.softmax(-1),'grad accum':lambda:w.mul(2).backward(g),'softmax fwd+bwd':smb,'1000 small adds':small,'gatherTokens fwd+bwd':gath}
def tm(f,reps=100):
    for i in range(5): f()
    r=[]
    for i in range(reps):
        a=time.perf_counter(); f(); r.append((time.perf_counter()-a)*1e3)
    r.sort(); return r[len(r)//2]
res={}
for rr in range(3):
    for n,f in rows.items(): res.setdefault(n,[]).append(tm(f))
print(json.dumps({n:sorted(v)[1] for n,v in res.items()}))
