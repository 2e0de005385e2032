#!/usr/bin/python3
# PyTorch's own files (torch.save) for rnnkit's reader of them (src/models/torch-file.ts).
#
# Regenerate (from the repository root; needs PyTorch, e.g. Debian's python3-torch, and the JSON
# of make_torch_weights_golden.py, whose weights these files hold):
#
#     npm run build && node tools/golden/write_rnnkit_torch_file.mjs
#     /usr/bin/python3 tools/golden/make_torch_files_golden.py
#
# (The first writes written-by-rnnkit.pt with rnnkit's encodeTorchFile; this script checks that
# torch.load reads it.)
#
# Writes test/golden/torch-files/*.pt and test/golden/torch_files.json; the tests read only those,
# never torch. Reproducible for a given torch build, but for the legacy file's storage keys
# (PyTorch names them by object address). Every file is read back here with torch.load (or
# torch.jit.load) and compared with what was saved, so that the JSON says what PyTorch itself
# reads from each file.
#
# The files: the three models of torch_weights.json saved the ways people save them — the
# state_dict (zip format, pickle protocol 2: torch.save's default since PyTorch 1.6), a training
# checkpoint dict (model and Adam optimizer state, epoch, loss, arguments), the state_dict with
# pickle protocol 4, the legacy (pre-1.6) format, the whole module object (torch.save(model)),
# TorchScript modules (scripted and traced, torch.jit.save), a dict holding two state_dicts, and
# copies re-archived by Python's zipfile (no alignment padding): big-endian (its `byteorder`
# record is what PyTorch 2.1+ writes and reads) and with a GPU model's storages
# (torch.cuda.FloatStorage at 'cuda:0', as PyTorch before 2.0 saved them) — and a file of
# tensors of every float dtype, integer and bool tensors, views (a transpose, rows, a column of
# one shared storage), a scalar and an empty tensor; and the file rnnkit's encodeTorchFile wrote.
#
# JSON layout: { generator, files: [ { file, how, case?, entry?, tensors? } ] }: `case` names the
# torch_weights.json case whose state the file holds (under `entry`, a key of the saved dict, when
# not at the top; `states`: the keys holding a state_dict when there are several); `tensors` maps
# a name to {dtype, shape, data} (values as float64) otherwise.
import array
import copy
import json
import os
import platform
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_torch_weights_golden import GruClassifier, LstmTagger, ReluRnnNorm  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
OUT = os.path.join(ROOT, 'test', 'golden', 'torch-files')
COMMAND = '/usr/bin/python3 tools/golden/make_torch_files_golden.py'


def flat(t):
    return [float(x) for x in t.detach().to(torch.float64).reshape(-1).tolist()]


def module_of(case, module):
    """The module with the case's weights (float32, as saved by a float32 model)."""
    sd = {k: torch.tensor(v['data'], dtype=torch.float32).reshape(v['shape']) for k, v in case['state'].items()}
    module.load_state_dict(sd)
    return module


def same_state(a, b):
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def save(name, obj, **kw):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kw)
    return path


def rearchive(src, dst, edit):
    """src's archive written again by Python's zipfile, each entry's bytes through edit(name, data)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as zout:
        names = zin.namelist()
        prefix = names[0].split('/')[0]
        for name in names + [f'{prefix}/byteorder']:
            data = edit(name[len(prefix) + 1:], zin.read(name) if name in names else None)
            if data is not None:
                zout.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 27, 0, 0, 0)), data)


def big_endian(name, data):
    """byteorder 'big' and every (float32) storage's bytes swapped."""
    if name == 'byteorder':
        return b'big'
    if name.startswith('data/'):
        a = array.array('f')
        a.frombytes(data)
        a.byteswap()
        return a.tobytes()
    return data


def on_cuda(name, data):
    """The storages as PyTorch before 2.0 saved a GPU model's: type torch.cuda.FloatStorage, location 'cuda:0'."""
    if name == 'data.pkl':
        assert b'ctorch\nFloatStorage\n' in data and b'X\x03\x00\x00\x00cpu' in data
        return data.replace(b'ctorch\nFloatStorage\n', b'ctorch.cuda\nFloatStorage\n').replace(b'X\x03\x00\x00\x00cpu', b'X\x06\x00\x00\x00cuda:0')
    return data


def main():
    os.makedirs(OUT, exist_ok=True)
    golden = json.load(open(os.path.join(ROOT, 'test', 'golden', 'torch_weights.json')))
    cases = {c['name']: c for c in golden['cases']}
    lstm = module_of(cases['lstm-bidirectional-stacked'], LstmTagger())
    gru = module_of(cases['gru-last-step'], GruClassifier())
    relu = module_of(cases['relu-rnn-layernorm'], ReluRnnNorm())
    files = []

    def add(name, how, case, entry=None, **kw):
        path = save(name, kw.pop('obj'), **kw)
        loaded = torch.load(path)
        state = loaded if entry is None else loaded[entry]
        if isinstance(state, torch.nn.Module):
            state = state.state_dict()
        expect = {'lstm-bidirectional-stacked': lstm, 'gru-last-step': gru, 'relu-rnn-layernorm': relu}[case].state_dict()
        assert same_state(state, expect), name
        files.append({'file': name, 'how': how, 'case': case, **({'entry': entry} if entry else {})})

    add('lstm-tagger.pt', 'torch.save(model.state_dict(), path)', 'lstm-bidirectional-stacked', obj=lstm.state_dict())

    # A training checkpoint: the optimizer's state comes from one Adam step on a copy of the model.
    torch.manual_seed(20261127)
    trained = copy.deepcopy(gru)
    opt = torch.optim.Adam(trained.parameters(), lr=1e-3)
    trained(torch.randint(0, 30, (2, 5))).sum().backward()
    opt.step()
    checkpoint = {
        'epoch': 7, 'model_state_dict': gru.state_dict(), 'optimizer_state_dict': opt.state_dict(),
        'loss': 0.25, 'args': {'lr': 1e-3, 'layers': [1, 2], 'name': 'gru', 'bidirectional': False, 'notes': None},
    }
    add('gru-classifier.checkpoint.pt', "torch.save({'epoch', 'model_state_dict', 'optimizer_state_dict', 'loss', 'args'}, path)",
        'gru-last-step', entry='model_state_dict', obj=checkpoint)
    add('relu-rnn.protocol4.pt', 'torch.save(model.state_dict(), path, pickle_protocol=4)', 'relu-rnn-layernorm',
        obj=relu.state_dict(), pickle_protocol=4)
    add('lstm-tagger.legacy.pt', 'torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)',
        'lstm-bidirectional-stacked', obj=lstm.state_dict(), _use_new_zipfile_serialization=False)
    add('gru-classifier.module.pt', 'torch.save(model, path): the whole module object', 'gru-last-step', obj=gru)
    # TorchScript: scripted and traced modules, written by torch.jit.save (read back by torch.jit.load).
    for name, how, case, module in [
        ('gru-classifier.script.pt', 'torch.jit.save(torch.jit.script(model), path)', 'gru-last-step', torch.jit.script(gru)),
        ('relu-rnn.trace.pt', 'torch.jit.save(torch.jit.trace(model, x), path)', 'relu-rnn-layernorm', torch.jit.trace(relu, torch.zeros(1, 3, 6))),
    ]:
        path = os.path.join(OUT, name)
        torch.jit.save(module, path)
        expect = {'gru-last-step': gru, 'relu-rnn-layernorm': relu}[case].state_dict()
        assert same_state(torch.jit.load(path).state_dict(), expect), name
        files.append({'file': name, 'how': how, 'case': case})

    # Two state_dicts in one file: a reader must be told which.
    add('relu-rnn.two-states.pt', "torch.save({'model': state_dict, 'ema': state_dict}, path)", 'relu-rnn-layernorm', entry='ema',
        obj={'model': relu.state_dict(), 'ema': relu.state_dict(), 'step': 100})
    files[-1]['states'] = ['model', 'ema']

    little = save('relu-rnn.tmp', relu.state_dict())
    rearchive(little, os.path.join(OUT, 'relu-rnn.big-endian.pt'), big_endian)
    rearchive(little, os.path.join(OUT, 'relu-rnn.cuda.pt'), on_cuda)
    os.remove(little)
    # PyTorch 2.1 and later swap a file's values when its byteorder is not the machine's; torch
    # 1.13 ignores the record, so here it must read every value byte-swapped.
    swapped = {k: torch.from_numpy(v.numpy().byteswap()) for k, v in torch.load(os.path.join(OUT, 'relu-rnn.big-endian.pt')).items()}
    assert same_state(swapped, relu.state_dict()), 'big-endian'
    files.append({'file': 'relu-rnn.big-endian.pt', 'how': "torch.save's archive re-written by Python's zipfile with byteorder 'big' and the storages byte-swapped",
                  'case': 'relu-rnn-layernorm'})
    assert same_state(torch.load(os.path.join(OUT, 'relu-rnn.cuda.pt'), map_location='cpu'), relu.state_dict()), 'cuda'
    files.append({'file': 'relu-rnn.cuda.pt', 'how': "torch.save's archive re-written by Python's zipfile with the storages of a GPU model (torch.cuda.FloatStorage, 'cuda:0')",
                  'case': 'relu-rnn-layernorm'})

    # The file rnnkit's encodeTorchFile wrote (tools/golden/write_rnnkit_torch_file.mjs, run first).
    written = os.path.join(OUT, 'written-by-rnnkit.pt')
    if os.path.exists(written):
        with zipfile.ZipFile(written) as z:
            assert z.testzip() is None, 'CRC'
        sd = torch.load(written)
        assert same_state(sd, lstm.state_dict()), 'written by rnnkit'
        LstmTagger().load_state_dict(sd, strict=True)
        files.append({'file': 'written-by-rnnkit.pt', 'how': "written by rnnkit's encodeTorchFile, read back by torch.load and load_state_dict(strict=True)",
                      'case': 'lstm-bidirectional-stacked'})
    else:
        print(f'{written} is missing: run node tools/golden/write_rnnkit_torch_file.mjs first', file=sys.stderr)

    g = torch.Generator().manual_seed(20261127)
    shared = torch.randn(4, 6, generator=g)
    tensors = {
        'f16': torch.randn(3, 5, generator=g).half(),
        'bf16': torch.randn(2, 7, generator=g).bfloat16(),
        'f64': torch.randn(4, generator=g, dtype=torch.float64),
        'transposed': torch.randn(3, 4, generator=g).t(),
        'shared': shared, 'rows': shared[1:3], 'column': shared[:, 2],
        'scalar': torch.tensor(3.5), 'empty': torch.zeros(0, 3),
        'int64': torch.tensor([1, 2 ** 40, -3], dtype=torch.int64),
        'int32': torch.tensor([[7, -8]], dtype=torch.int32),
        'uint8': torch.tensor([0, 255], dtype=torch.uint8),
        'bool': torch.tensor([True, False, True]),
    }
    save('tensors.pt', tensors)
    back = torch.load(os.path.join(OUT, 'tensors.pt'))
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    files.append({'file': 'tensors.pt', 'how': 'torch.save(dict of tensors, path)', 'tensors': {
        k: {'dtype': str(v.dtype).replace('torch.', ''), 'shape': list(v.shape), 'data': flat(v)} for k, v in tensors.items()}})

    with open(os.path.join(ROOT, 'test', 'golden', 'torch_files.json'), 'w') as f:
        json.dump({'generator': {'command': COMMAND, 'torch': torch.__version__, 'python': platform.python_version()},
                   'files': files}, f)
        f.write('\n')


if __name__ == '__main__':
    main()
