// Writes test/golden/torch-files/written-by-rnnkit.pt: the stacked bidirectional LSTM tagger's
// state_dict of test/golden/torch_weights.json as rnnkit's encodeTorchFile writes it, for
// tools/golden/make_torch_files_golden.py to read back with torch.load (it records that PyTorch
// read it, and the tests check that rnnkit still writes these very bytes).
//
//     npm run build && node tools/golden/write_rnnkit_torch_file.mjs
//     /usr/bin/python3 tools/golden/make_torch_files_golden.py
import { readFileSync, writeFileSync } from 'node:fs';
import { encodeTorchFile } from '../../dist/src/index.js';

const root = new URL('../../', import.meta.url);
const golden = JSON.parse(readFileSync(new URL('test/golden/torch_weights.json', root), 'utf8'));
const c = golden.cases.find((x) => x.name === 'lstm-bidirectional-stacked');
const state = Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]));
writeFileSync(new URL('test/golden/torch-files/written-by-rnnkit.pt', root), encodeTorchFile(state, { archive: 'written-by-rnnkit' }));
