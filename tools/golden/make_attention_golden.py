#!/usr/bin/python3
# PyTorch golden values for rnnkit's attention (src/kernels/attention-ops.ts, the layers in
# src/layers/attention.ts): outputs, weights and every gradient.
#
# Regenerate (from the repository root; needs PyTorch, e.g. Debian's python3-torch):
#
#     /usr/bin/python3 tools/golden/make_attention_golden.py > test/golden/attention.json
#
# Everything is seeded, so the output is reproducible for a given torch build. The test
# (test/attention.test.ts) reads only the JSON; it never needs torch.
#
# Each case is written out in torch operations (matmul, masked_fill, softmax; torch 1.13 has no
# fused attention), in float64, from inputs rounded to values exactly representable in float32:
#   dot        s = q kᵀ              scaledDot  s = q kᵀ / √Dk
#   additive   s_ij = Σ_a w_a tanh((q W_q + b)_ia + (k W_k)_ja)   (no q: b alone, Tq = 1)
# keys masked by keyMask (0 = padded) or, causal, ahead of the query step get -inf; a = softmax(s)
# over the keys; y = a v. Then loss = sum(wy * y) + sum(wa * a), with random loss weights, and
# torch.autograd gives the gradients of q, k, v and of the additive parameters.
#
# JSON layout: { generator: {command, torch, python}, cases: [ { name, score, B, Tq, Tv, Dq, Dk,
# Dv, A | null, causal, keyMask | null, pooling, q | null, k, v, wq | null, wk | null, b | null,
# w | null, wy, wa, expected { y, a, dq | null, dk, dv, dwq | null, dwk | null, db | null,
# dw | null } } ] }, every tensor flattened row-major.
import json
import math
import platform
import sys

import torch

from common import f32, flat, rand  # (this script's directory is on the path)

torch.manual_seed(20261127)


def case(name, score, B, Tq, Tv, Dq, Dk, Dv, A=None, causal=False, lengths=None, pooling=False):
    q = None if pooling else rand(B, Tq, Dq).requires_grad_()
    k = rand(B, Tv, Dk).requires_grad_()
    v = k if pooling else rand(B, Tv, Dv).requires_grad_()
    params = {}
    if score == 'additive':
        if not pooling:
            params['wq'] = rand(Dq, A, scale=0.8).requires_grad_()
        params['wk'] = rand(Dk, A, scale=0.8).requires_grad_()
        params['b'] = rand(A, scale=0.5).requires_grad_()
        params['w'] = rand(A).requires_grad_()
    allowed = torch.ones(B, Tq, Tv, dtype=torch.bool)
    key_mask = None
    if lengths is not None:
        key_mask = torch.zeros(B, Tv, dtype=torch.uint8)
        for b, n in enumerate(lengths):
            key_mask[b, :n] = 1
        allowed &= key_mask.bool()[:, None, :]
    if causal:
        allowed &= torch.tril(torch.ones(Tq, Tv, dtype=torch.bool))[None]
    if score == 'additive':
        pq = params['b'].expand(B, Tq, A) if pooling else q @ params['wq'] + params['b']
        pk = k @ params['wk']
        s = (torch.tanh(pq[:, :, None, :] + pk[:, None, :, :]) * params['w']).sum(-1)
    else:
        s = q @ k.transpose(1, 2)
        if score == 'scaledDot':
            s = s / math.sqrt(Dk)
    a = torch.softmax(s.masked_fill(~allowed, float('-inf')), dim=-1)
    y = a @ v
    wy = rand(B, Tq, Dv)
    wa = rand(B, Tq, Tv)
    loss = (wy * y).sum() + (wa * a).sum()
    loss.backward()
    exp = {
        'y': flat(y), 'a': flat(a),
        'dq': None if pooling else flat(q.grad), 'dk': flat(k.grad),
        # Pooling: the sequence is both the keys and the values, one gradient (dk above).
        'dv': None if pooling else flat(v.grad),
    }
    for key in ['wq', 'wk', 'b', 'w']:
        exp['d' + key] = flat(params[key].grad) if key in params else None
    return {
        'name': name, 'score': score, 'B': B, 'Tq': Tq, 'Tv': Tv, 'Dq': Dq, 'Dk': Dk, 'Dv': Dv,
        'A': A, 'causal': causal, 'pooling': pooling,
        'keyMask': None if key_mask is None else [int(x) for x in key_mask.reshape(-1).tolist()],
        'q': None if pooling else flat(q), 'k': flat(k), 'v': flat(v),
        'wq': flat(params['wq']) if 'wq' in params else None,
        'wk': flat(params['wk']) if 'wk' in params else None,
        'b': flat(params['b']) if 'b' in params else None,
        'w': flat(params['w']) if 'w' in params else None,
        'wy': flat(wy), 'wa': flat(wa), 'expected': exp,
    }


cases = [
    case('dot, separate keys and values, padded keys', 'dot', B=2, Tq=3, Tv=5, Dq=4, Dk=4, Dv=3, lengths=[5, 3]),
    case('scaledDot, causal', 'scaledDot', B=2, Tq=4, Tv=4, Dq=3, Dk=3, Dv=2, causal=True),
    case('scaledDot, causal and padded', 'scaledDot', B=2, Tq=4, Tv=4, Dq=3, Dk=3, Dv=3, causal=True, lengths=[4, 2]),
    case('additive (Bahdanau), padded keys', 'additive', B=2, Tq=3, Tv=4, Dq=3, Dk=4, Dv=2, A=5, lengths=[3, 4]),
    case('additive pooling, lengths 5, 3, 1', 'additive', B=3, Tq=1, Tv=5, Dq=0, Dk=4, Dv=4, A=3, lengths=[5, 3, 1], pooling=True),
]

json.dump({
    'generator': {
        'command': '/usr/bin/python3 tools/golden/make_attention_golden.py > test/golden/attention.json',
        'torch': torch.__version__, 'python': platform.python_version(),
    },
    'cases': cases,
}, sys.stdout, indent=None)
sys.stdout.write('\n')
