"""VMAF's picture terms made differentiable, for training pre-filters on what the encode
gains rather than on denoising for its own sake (issue 19): VIF over libvmaf's four scales
(noise and blur both lower it) and a detail-kept ratio in ADM's manner (blur lowers it,
additive noise does not). Used by models/train/temporal.py and models/train/prefilter.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# The loss: L1 (code values / 255) + VIF_W * (1 - VIF) + ADM_W * (1 - detail kept).
VIF_W, ADM_W = 0.05, 0.15


def _gauss(x: torch.Tensor, n: int) -> torch.Tensor:
    """libvmaf's VIF window: a Gaussian of n taps, sigma n / 5, separable, reflect-padded."""
    r = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    k = torch.exp(-(r**2) / (2 * (n / 5) ** 2))
    k = k / k.sum()
    x = F.pad(x, (n // 2, n // 2, n // 2, n // 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, n))
    return F.conv2d(x, k.view(1, 1, n, 1))


def vif(ref: torch.Tensor, dist: torch.Tensor, cap: bool = False) -> torch.Tensor:
    """VIF (pixel domain, libvmaf's four scales and windows 17/9/5/3, sigma_n^2 = 2 on
    8-bit values) without enhancement gain, mean of the four scale ratios per sample,
    differentiable (cap: NEG's gain limit of 1). A small floor
    on the reference variance keeps the gain finite in flat areas (libvmaf sets it to 0
    there)."""
    ref, dist = ref * 255, dist * 255
    ratios = []
    for i, n in enumerate((17, 9, 5, 3)):
        if i:
            ref = _gauss(ref, n)[..., ::2, ::2]
            dist = _gauss(dist, n)[..., ::2, ::2]
        mu1, mu2 = _gauss(ref, n), _gauss(dist, n)
        s11 = (_gauss(ref * ref, n) - mu1**2).clamp(min=0)
        s22 = (_gauss(dist * dist, n) - mu2**2).clamp(min=0)
        s12 = _gauss(ref * dist, n) - mu1 * mu2
        # cap: at 1, as VMAF NEG caps VIF's enhancement gain (a gain above 1 is a
        # sharpened output, which vmaf_v0.6.1 rewards).
        g = (s12 / (s11 + 1e-2)).clamp(0, 1 if cap else None)
        sv = (s22 - g * s12).clamp(min=1e-3)
        num = torch.log2(1 + g**2 * s11 / (sv + 2.0)).sum(dim=(1, 2, 3))
        den = torch.log2(1 + s11 / 2.0).sum(dim=(1, 2, 3))
        ratios.append(num / (den + 1e-3))
    return torch.stack(ratios, dim=1).mean(dim=1)


def _haar(x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return (a + b + c + d) / 2, [(a - b + c - d) / 2, (a + b - c - d) / 2, (a - b - c + d) / 2]


def detail_kept(ref: torch.Tensor, dist: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """ADM's decoupling, simplified (no CSF, no contrast masking): in each Haar detail band
    the part of the output that restores the clean detail is k * ref with
    k = clip(dist / ref, 0, 1); what it kept is sum |k ref|^3 / sum |ref|^3 (cube pooling,
    as ADM), averaged over bands and levels. Blur lowers it; noise on top does not."""
    ref, dist = ref * 255, dist * 255
    kept = []
    for _ in range(levels):
        ref, rb = _haar(ref)
        dist, db = _haar(dist)
        for r, d in zip(rb, db, strict=True):
            k = (d * r / (r * r + 1e-2)).clamp(0, 1)
            num = (k * r).abs().pow(3).sum(dim=(1, 2, 3))
            den = r.abs().pow(3).sum(dim=(1, 2, 3))
            kept.append(num / (den + 1.0))
    return torch.stack(kept, dim=1).mean(dim=1)


def vmaf_loss(out: torch.Tensor, clean: torch.Tensor, vif_w: float = VIF_W,
              adm_w: float = ADM_W, cap: bool = False) -> tuple[torch.Tensor, dict]:
    l1 = F.l1_loss(out, clean)
    v = vif(clean, out, cap).mean()
    a = detail_kept(clean, out).mean()
    loss = l1 + vif_w * (1 - v) + adm_w * (1 - a)
    return loss, {"l1": l1.item() * 255, "vif": v.item(), "adm": a.item()}
