#!/usr/bin/python3
# PyTorch golden values for rnnkit's Transformer pieces, from PyTorch's own modules (implementations
# independent of rnnkit's): multi-head attention (src/kernels/multihead-ops.ts, the layer in
# src/layers/multihead.ts) from torch.nn.MultiheadAttention — outputs, every head's weights and
# every gradient — and layer normalisation (src/layers/normalization.ts) from torch.nn.LayerNorm.
#
# Regenerate (from the repository root; needs PyTorch, e.g. Debian's python3-torch):
#
#     /usr/bin/python3 tools/golden/make_transformer_golden.py > test/golden/transformer.json
#
# Everything is seeded, so the output is reproducible for a given torch build. The test
# (test/multihead.test.ts, test/transformer.test.ts) reads only the JSON; it never needs torch.
#
# The module runs in float64 on inputs and weights rounded to values exactly representable in
# float32. PyTorch stores each projection as y = x Wᵀ + b with W [out, in]; rnnkit's kernels are
# [in, out] (y = x W + b), so the JSON holds the transposes. Heads split the projected width in
# consecutive blocks in both. Masks: key_padding_mask True = padded (rnnkit's keyMask 0);
# causal: attn_mask True above the diagonal. loss = sum(wy * y) with random loss weights wy.
#
# JSON layout: { generator: {command, torch, python}, layerNorm: [ { name, rows, D, eps, x, gamma,
# beta, wy, expected { y, dx, dgamma, dbeta } } ], cases: [ { name, B, Tq, Tv, Dq, Dk, Dv,
# heads, keyDim, valueDim, Do, causal, self (q, k and v one tensor), keyMask | null, q, k, v,
# wq, bq, wk, bk, wv, bv, wo, bo, wy, expected { y, a [B, H, Tq, Tv], dq, dk, dv (with self: dq
# the whole gradient, dk and dv null), dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo } } ] }, every
# tensor flattened row-major.
import json
import platform
import sys

import torch

from common import f32, flat, rand  # (this script's directory is on the path)

torch.manual_seed(20261127)


def case(name, B, Tq, Tv, E, H, Dk=None, Dv=None, causal=False, lengths=None, self_attention=False):
    Dk = Dk or E
    Dv = Dv or E
    mha = torch.nn.MultiheadAttention(E, H, bias=True, kdim=Dk, vdim=Dv, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(rand(*p.shape, scale=0.6))
    if self_attention:
        q = rand(B, Tq, E).requires_grad_()
        k = v = q
    else:
        q = rand(B, Tq, E).requires_grad_()
        k = rand(B, Tv, Dk).requires_grad_()
        v = rand(B, Tv, Dv).requires_grad_()
    key_padding = None
    key_mask = None
    if lengths is not None:
        key_mask = torch.zeros(B, Tv, dtype=torch.int64)
        for b, n in enumerate(lengths):
            key_mask[b, :n] = 1
        key_padding = key_mask == 0
    attn_mask = torch.triu(torch.ones(Tq, Tv, dtype=torch.bool), diagonal=1) if causal else None
    y, a = mha(q, k, v, key_padding_mask=key_padding, attn_mask=attn_mask, need_weights=True, average_attn_weights=False)
    wy = rand(*y.shape)
    (wy * y).sum().backward()

    # The projections' weights, in rnnkit's layout [in, out].
    if mha._qkv_same_embed_dim:
        wq, wk, wv = mha.in_proj_weight.chunk(3, dim=0)
        gq, gk, gv = mha.in_proj_weight.grad.chunk(3, dim=0)
    else:
        wq, wk, wv = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
        gq, gk, gv = mha.q_proj_weight.grad, mha.k_proj_weight.grad, mha.v_proj_weight.grad
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    dbq, dbk, dbv = mha.in_proj_bias.grad.chunk(3)
    return {
        'name': name, 'B': B, 'Tq': Tq, 'Tv': Tv, 'Dq': E, 'Dk': Dk, 'Dv': Dv, 'heads': H,
        'keyDim': E // H, 'valueDim': E // H, 'Do': E, 'causal': causal, 'self': self_attention,
        'keyMask': flat(key_mask) if key_mask is not None else None,
        'q': flat(q), 'k': flat(k), 'v': flat(v),
        'wq': flat(wq.t()), 'bq': flat(bq), 'wk': flat(wk.t()), 'bk': flat(bk), 'wv': flat(wv.t()), 'bv': flat(bv),
        'wo': flat(mha.out_proj.weight.t()), 'bo': flat(mha.out_proj.bias), 'wy': flat(wy),
        'expected': {
            'y': flat(y), 'a': flat(a),
            'dq': flat(q.grad), 'dk': None if self_attention else flat(k.grad), 'dv': None if self_attention else flat(v.grad),
            'dwq': flat(gq.t()), 'dbq': flat(dbq), 'dwk': flat(gk.t()), 'dbk': flat(dbk), 'dwv': flat(gv.t()), 'dbv': flat(dbv),
            'dwo': flat(mha.out_proj.weight.grad.t()), 'dbo': flat(mha.out_proj.bias.grad),
        },
    }


def layer_norm_case(name, rows, D, eps, scale=1.0):
    ln = torch.nn.LayerNorm(D, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        ln.weight.copy_(rand(D, scale=1.5))
        ln.bias.copy_(rand(D))
    x = rand(rows, D, scale=scale).requires_grad_()
    y = ln(x)
    wy = rand(rows, D)
    (wy * y).sum().backward()
    return {
        'name': name, 'rows': rows, 'D': D, 'eps': eps, 'x': flat(x), 'gamma': flat(ln.weight), 'beta': flat(ln.bias), 'wy': flat(wy),
        'expected': {'y': flat(y), 'dx': flat(x.grad), 'dgamma': flat(ln.weight.grad), 'dbeta': flat(ln.bias.grad)},
    }


layer_norm = [
    layer_norm_case('7 rows of 5, eps 1e-3', 7, 5, 1e-3),
    layer_norm_case('3 rows of 16, eps 1e-5, values near 1e3', 3, 16, 1e-5, scale=1000.0),
]

cases = [
    case('self-attention, 2 heads', B=2, Tq=5, Tv=5, E=8, H=2, self_attention=True),
    case('cross-attention, 3 heads, padded keys, keys and values of other widths', B=2, Tq=3, Tv=4, E=6, H=3, Dk=5, Dv=3, lengths=[4, 2]),
    case('causal self-attention, 4 heads, padded keys', B=2, Tq=4, Tv=4, E=8, H=4, causal=True, lengths=[4, 3], self_attention=True),
]
json.dump({
    'generator': {
        'command': '/usr/bin/python3 tools/golden/make_transformer_golden.py > test/golden/transformer.json',
        'torch': torch.__version__, 'python': platform.python_version(),
    },
    'layerNorm': layer_norm,
    'cases': cases,
}, sys.stdout)
sys.stdout.write('\n')
