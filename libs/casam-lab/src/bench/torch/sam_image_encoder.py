"""SAM's ViT image encoder in plain PyTorch, for bench:sam only (a measuring stick, never a dependency).

Written for this project from libs/casam-core/src/sam/image-encoder.ts and vit-attention.ts (same maths, same
official state-dict key names, e.g. `blocks.3.attn.rel_pos_h`), so one safetensors file drives both.
"""
import json
import struct

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def read_safetensors(path):
    """name -> float32 tensor. Format: u64 LE header length, JSON header, raw LE buffers."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8 : 8 + n])
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        if h["dtype"] != "F32":
            raise ValueError(f"{name}: only F32 is read here, got {h['dtype']}")
        b, e = h["data_offsets"]
        arr = np.frombuffer(buf, dtype="<f4", count=(e - b) // 4, offset=8 + n + b)
        out[name] = torch.from_numpy(arr.copy()).reshape(h["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of NCHW maps (biased variance)."""

    def __init__(self, c, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.lin2(F.gelu(self.lin1(x)))


class Attention(nn.Module):
    """Multi-head self-attention on an s×s token map with the decomposed relative-position bias."""

    def __init__(self, dim, heads, s, qkv_bias, rel_pos):
        super().__init__()
        self.heads, self.s, self.hd = heads, s, dim // heads
        self.scale = self.hd**-0.5
        self.rel_pos = rel_pos
        if rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * s - 1, self.hd))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * s - 1, self.hd))
            # Table row for (query i, key j) is i - j + s - 1.
            idx = torch.arange(s)[:, None] - torch.arange(s)[None, :] + s - 1
            self.register_buffer("rel_index", idx, persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, h, w, dim = x.shape
        n = h * w
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0].reshape(b * self.heads, n, self.hd), qkv[1], qkv[2]
        k = k.reshape(b * self.heads, n, self.hd)
        v = v.reshape(b * self.heads, n, self.hd)
        logits = (q * self.scale) @ k.transpose(-2, -1)
        if self.rel_pos:
            rh = self.rel_pos_h[self.rel_index]  # [qh, kh, hd]
            rw = self.rel_pos_w[self.rel_index]  # [qw, kw, hd]
            q4 = q.reshape(-1, h, w, self.hd)  # unscaled queries
            bias_h = torch.einsum("byxc,ykc->byxk", q4, rh)
            bias_w = torch.einsum("byxc,xkc->byxk", q4, rw)
            logits = logits.view(-1, h, w, h, w) + bias_h[:, :, :, :, None] + bias_w[:, :, :, None, :]
            logits = logits.view(-1, n, n)
        out = logits.softmax(-1) @ v  # [b·heads, n, hd]
        out = out.view(b, self.heads, h, w, self.hd).permute(0, 2, 3, 1, 4).reshape(b, h, w, dim)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, eps, window, grid, qkv_bias, rel_pos):
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, window if window > 0 else grid, qkv_bias, rel_pos)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        y = self.norm1(x)
        if self.window > 0:
            b, h, w, c = y.shape
            ws = self.window
            ph, pw = (ws - h % ws) % ws, (ws - w % ws) % ws
            y = F.pad(y, (0, 0, 0, pw, 0, ph))  # zeros on the bottom/right
            hp, wp = h + ph, w + pw
            y = y.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, c)
            y = self.attn(y)
            y = y.view(b, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
            y = y[:, :h, :w, :]
        else:
            y = self.attn(y)
        x = x + y
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, in_chans, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)


class ImageEncoder(nn.Module):
    """NCHW [B,3,S,S] preprocessed image → NCHW [B,outChans,g,g] embeddings. `cfg` is a SamConfig (JSON)."""

    def __init__(self, cfg):
        super().__init__()
        e, g = cfg["encoderEmbedDim"], cfg["imgSize"] // cfg["patchSize"]
        self.patch_embed = PatchEmbed(cfg["inChans"], e, cfg["patchSize"])
        self.pos_embed = nn.Parameter(torch.zeros(1, g, g, e)) if cfg["encoderUseAbsPos"] else None
        self.blocks = nn.ModuleList(
            Block(
                e,
                cfg["encoderNumHeads"],
                cfg["encoderMlpRatio"],
                cfg["encoderLayerNormEps"],
                0 if i in cfg["encoderGlobalAttnIndexes"] else cfg["encoderWindowSize"],
                g,
                cfg["encoderQkvBias"],
                cfg["encoderUseRelPos"],
            )
            for i in range(cfg["encoderDepth"])
        )
        c, eps = cfg["outChans"], cfg["layerNorm2dEps"]
        self.neck = nn.Sequential(
            nn.Conv2d(e, c, 1, bias=False),
            LayerNorm2d(c, eps),
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            LayerNorm2d(c, eps),
        )

    def forward(self, x):
        x = self.patch_embed.proj(x).permute(0, 2, 3, 1)  # NHWC tokens
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.neck(x.permute(0, 3, 1, 2))


def load_image_encoder(cfg, weights_path):
    """Builds the encoder and loads `image_encoder.*` from a full SAM safetensors file (strict)."""
    sd = read_safetensors(weights_path)
    prefix = "image_encoder."
    enc = ImageEncoder(cfg)
    enc.load_state_dict({k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}, strict=True)
    return enc.eval()
