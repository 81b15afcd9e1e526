# The ViT a PyTorch user writes (nn.Linear / nn.LayerNorm / F.gelu, F.scaled_dot_product_attention
# when present): the torch peer of bench/workloads/vit_step.ts and of scripts/user_path_torch.py.
# s: {"image", "patch", "channels", "dim", "depth", "heads"}.
import torch
import torch.nn as nn
import torch.nn.functional as F

class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        B, N, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(B, N, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        if hasattr(F, "scaled_dot_product_attention"):
            a = F.scaled_dot_product_attention(q, k, v)
        else:
            a = torch.softmax(q @ k.transpose(-2, -1) * (D // self.h) ** -0.5, dim=-1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(B, N, D))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))

class ViT(nn.Module):
    def __init__(self, s):
        super().__init__()
        p, c, d = s["patch"], s["channels"], s["dim"]
        n = (s["image"] // p) ** 2
        self.p = p
        self.patch = nn.Linear(c * p * p, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.register_buffer("pos", torch.randn(1, n + 1, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, s["heads"]) for _ in range(s["depth"])])
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def forward(self, x):
        B, C, H, W = x.shape
        p = self.p
        x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, -1, C * p * p)
        x = self.patch(x) + self.pos[:, 1:]
        x = torch.cat([(self.cls + self.pos[:, :1]).expand(B, -1, -1), x], 1)
        for b in self.blocks:
            x = b(x)
        return self.norm(x)
