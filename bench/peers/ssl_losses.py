# The textbook PyTorch InfoNCE / NT-Xent a user writes (lightly's NTXentLoss): normalize both views,
# Z Z^T / tau, mask the self-similarities, cross-entropy against the other view. The torch peer of
# F.infoNCE in scripts/user_path_torch.py and scripts/pingpong.py.
import torch
import torch.nn.functional as F


def info_nce(a, b, t=0.1):
    z = F.normalize(torch.cat([a, b]), dim=1)
    s = z @ z.t() / t
    n = a.shape[0]
    s.fill_diagonal_(float("-inf"))
    labels = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, labels)
