/**
 * The torch peer's setup for a loss of two [N, D] leaves (InfoNCE, VICReg): the same seeded
 * inputs and the same fwd / fwd+bwd run for every such family, with only the loss body differing.
 * `body` is Python indented by 4 spaces; it defines `loss()` and may use n, d, dt and the leaves.
 */
export function torchTwoLeafLoss(a: string, b: string, body: string): string {
  return `
import torch.nn.functional as F
def setup(shape, dtype):
    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    n, d = shape["N"], shape["D"]
    ${a} = torch.randn(n, d, generator=g, dtype=dt).requires_grad_()
    ${b} = torch.randn(n, d, generator=g, dtype=dt).requires_grad_()
${body.replace(/^\n/, '').trimEnd()}
    def run(mode):
        if mode == "fwd":
            with torch.no_grad():
                loss()
        else:
            ${a}.grad = ${b}.grad = None
            loss().backward()
    return run
`;
}
