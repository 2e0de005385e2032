#!/usr/bin/python3
# PyTorch golden values for rnnkit's LSTM / GRU / RNN layers (forward and backward).
#
# Regenerate (from the repository root; needs PyTorch, e.g. Debian's python3-torch):
#
#     /usr/bin/python3 tools/golden/make_golden.py > test/golden/torch_rnn.json
#
# Everything is seeded, so the output is reproducible for a given torch build. The test
# (test/torch-golden.test.ts) reads only the JSON; it never needs torch.
#
# Each case builds torch.nn.{LSTM,GRU,RNN} in float64 with random weights, runs it on a random
# input with random h0 (and c0), optionally with per-sequence lengths through
# pack_padded_sequence(enforce_sorted=False) / pad_packed_sequence(total_length=T), and takes
#     loss = sum(wOut * output) + sum(wH * h_n) (+ sum(wC * c_n))
# with random loss weights. It records the gradients of the loss with respect to the input,
# h0, c0 and every parameter. Weights, inputs, states and loss weights are rounded to values
# exactly representable in float32, so that the float32 variant of the test loads the very same
# numbers; the computation itself is float64.
#
# JSON layout: { generator: {command, torch, python}, cases: [ { name, cell, inputSize,
# hiddenSize, numLayers, bidirectional, batchFirst, T, B, lengths | null, weights {name: [...]},
# x, h0, c0 | null, wOut, wH, wC | null, expected { output, hN, cN | null, dx, dh0, dc0 | null,
# grads {name: [...]} } } ] } with every tensor flattened row-major in PyTorch's own layout
# (x / output [B, T, .] when batchFirst, else [T, B, .]; states [L*D, B, H]).
import json
import platform
import sys

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

COMMAND = '/usr/bin/python3 tools/golden/make_golden.py > test/golden/torch_rnn.json'

I, H, B, T, L = 5, 6, 3, 7, 2
LENGTHS = [4, 7, 2]  # unsorted, max == T; PyTorch's packing does not allow 0


def f32(t):
    """Round to float32-representable values, kept in float64."""
    return t.float().double()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def make_case(name, cell, seed, lengths, batch_first=True, bidirectional=True, scale=0.6):
    torch.manual_seed(seed)
    if cell == 'lstm':
        mod = torch.nn.LSTM(I, H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first)
    elif cell == 'gru':
        mod = torch.nn.GRU(I, H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first)
    else:
        nl = 'relu' if cell == 'rnn_relu' else 'tanh'
        mod = torch.nn.RNN(I, H, num_layers=L, nonlinearity=nl, bidirectional=bidirectional, batch_first=batch_first)
    mod = mod.double()
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(f32(torch.empty_like(p).uniform_(-scale, scale)))
    D = 2 if bidirectional else 1
    is_lstm = cell == 'lstm'
    xshape = (B, T, I) if batch_first else (T, B, I)
    oshape = (B, T, D * H) if batch_first else (T, B, D * H)
    x = f32(torch.randn(*xshape, dtype=torch.float64)).requires_grad_()
    h0 = f32(0.5 * torch.randn(L * D, B, H, dtype=torch.float64)).requires_grad_()
    c0 = f32(0.5 * torch.randn(L * D, B, H, dtype=torch.float64)).requires_grad_() if is_lstm else None
    w_out = f32(torch.randn(*oshape, dtype=torch.float64))
    w_h = f32(torch.randn(L * D, B, H, dtype=torch.float64))
    w_c = f32(torch.randn(L * D, B, H, dtype=torch.float64)) if is_lstm else None

    state = (h0, c0) if is_lstm else h0
    if lengths is not None:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out_p, st = mod(packed, state)
        out, _ = pad_packed_sequence(out_p, batch_first=batch_first, total_length=T)
    else:
        out, st = mod(x, state)
    hn, cn = (st if is_lstm else (st, None))
    loss = (w_out * out).sum() + (w_h * hn).sum()
    if is_lstm:
        loss = loss + (w_c * cn).sum()
    params = dict(mod.named_parameters())
    inputs = [x, h0] + ([c0] if is_lstm else []) + list(params.values())
    grads = torch.autograd.grad(loss, inputs)
    gx, gh0 = grads[0], grads[1]
    gc0 = grads[2] if is_lstm else None
    gparams = grads[3 if is_lstm else 2:]

    return {
        'name': name,
        'cell': cell,
        'inputSize': I, 'hiddenSize': H, 'numLayers': L,
        'bidirectional': bidirectional, 'batchFirst': batch_first,
        'T': T, 'B': B,
        'lengths': lengths,
        'weights': {k: flat(v) for k, v in params.items()},
        'x': flat(x), 'h0': flat(h0), 'c0': flat(c0) if is_lstm else None,
        'wOut': flat(w_out), 'wH': flat(w_h), 'wC': flat(w_c) if is_lstm else None,
        'expected': {
            'loss': float(loss),
            'output': flat(out), 'hN': flat(hn), 'cN': flat(cn) if is_lstm else None,
            'dx': flat(gx), 'dh0': flat(gh0), 'dc0': flat(gc0) if is_lstm else None,
            'grads': {k: flat(g) for k, g in zip(params.keys(), gparams)},
        },
    }


def main():
    torch.set_default_dtype(torch.float64)
    cases = [
        make_case('lstm full', 'lstm', 101, None),
        make_case('lstm lengths', 'lstm', 102, LENGTHS),
        make_case('lstm lengths time-major', 'lstm', 103, LENGTHS, batch_first=False),
        make_case('gru full', 'gru', 201, None),
        make_case('gru lengths', 'gru', 202, LENGTHS),
        make_case('rnn_tanh full', 'rnn_tanh', 301, None),
        make_case('rnn_tanh lengths', 'rnn_tanh', 302, LENGTHS),
        make_case('rnn_relu full', 'rnn_relu', 401, None),
        make_case('rnn_relu lengths', 'rnn_relu', 402, LENGTHS),
    ]
    doc = {
        'generator': {
            'command': COMMAND,
            'torch': torch.__version__,
            'python': platform.python_version(),
        },
        'cases': cases,
    }
    json.dump(doc, sys.stdout, separators=(',', ':'))
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
