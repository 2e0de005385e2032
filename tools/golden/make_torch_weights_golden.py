#!/usr/bin/python3
# PyTorch models, their weights (state_dict) and their outputs, for rnnkit's loadTorchWeights.
#
# Regenerate (from the repository root; needs PyTorch, e.g. Debian's python3-torch):
#
#     /usr/bin/python3 tools/golden/make_torch_weights_golden.py > test/golden/torch_weights.json
#
# Seeded, so reproducible for a given torch build. The test (test/torch-weights.test.ts) reads only
# the JSON; it never needs torch. Each case is a small nn.Module of the layers rnnkit maps
# (Embedding, LSTM / GRU / RNN — stacked, bidirectional — LayerNorm, Linear), its state_dict with
# weights rounded to float32-representable values, a random input, and the output of the module
# run in float64 on those weights.
#
# JSON layout: { generator: {command, torch, python}, cases: [ { name, state: { key: {shape, data} }
# (in state_dict order), input: {kind: 'ids' | 'float', shape, data}, output: {shape, data} } ] },
# every tensor flattened row-major.
import json
import platform
import sys

import torch
from torch import nn

from common import f32, flat, rand


class LstmTagger(nn.Module):
    """Embedding -> 2-layer bidirectional LSTM -> Linear over every step."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(40, 12)
        self.lstm = nn.LSTM(12, 16, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(32, 7)

    def forward(self, ids):
        y, _ = self.lstm(self.emb(ids))
        return self.head(y)


class GruClassifier(nn.Module):
    """Embedding -> GRU -> its last step -> Linear -> sigmoid."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(30, 10)
        self.gru = nn.GRU(10, 12, batch_first=True)
        self.fc = nn.Linear(12, 1)

    def forward(self, ids):
        y, _ = self.gru(self.embedding(ids))
        return torch.sigmoid(self.fc(y[:, -1, :]))


class ReluRnnNorm(nn.Module):
    """ReLU RNN over float features -> LayerNorm -> Linear -> softmax (module order differs from name order)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(6, 8, nonlinearity='relu', batch_first=True)
        self.norm = nn.LayerNorm(8)
        self.out = nn.Linear(8, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return torch.softmax(self.out(self.norm(y)), dim=-1)


def case(name, module, inp, kind):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(f32(p.data.to(torch.float64) + rand(*p.shape, scale=0.2)))
    module = module.to(torch.float64)
    with torch.no_grad():
        out = module(inp if kind == 'ids' else inp.to(torch.float64))
    state = {k: {'shape': list(v.shape), 'data': flat(v)} for k, v in module.state_dict().items()}
    return {
        'name': name, 'state': state,
        'input': {'kind': kind, 'shape': list(inp.shape), 'data': [int(x) for x in inp.reshape(-1).tolist()] if kind == 'ids' else flat(inp)},
        'output': {'shape': list(out.shape), 'data': flat(out)},
    }


def main():
    torch.manual_seed(20261127)
    cases = [
        case('lstm-bidirectional-stacked', LstmTagger(), torch.randint(0, 40, (3, 9)), 'ids'),
        case('gru-last-step', GruClassifier(), torch.randint(0, 30, (3, 8)), 'ids'),
        case('relu-rnn-layernorm', ReluRnnNorm(), rand(2, 5, 6), 'float'),
    ]
    json.dump({
        'generator': {
            'command': '/usr/bin/python3 tools/golden/make_torch_weights_golden.py > test/golden/torch_weights.json',
            'torch': torch.__version__, 'python': platform.python_version(),
        },
        'cases': cases,
    }, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
