# Golden values for rnnkit's float32 -> binary16 rounding (src/models/safetensors.ts,
# float16Bits), from numpy's float16 conversion (round to nearest, ties to even):
#
#   python3 tools/golden/make_float16_golden.py > test/golden/float16.json
#
# Each case is [float32 bit pattern, binary16 bit pattern], both as unsigned integers: edge
# cases (zeros, the subnormal and normal boundaries, exact ties, overflow, Infinity, NaN) and
# values spread over every binary16 exponent and beyond, with random significands.
import json
import sys

import numpy as np

rng = np.random.default_rng(20261127)
vals = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 1e5, np.inf, -np.inf,
        2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.0000001, 2.0 ** -26, 2.0 ** -14, 2.0 ** -14 * (1 - 2.0 ** -11),
        1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 1.0 + 2.0 ** -11 + 2.0 ** -23, 2049.0, 2051.0, 0.1, -0.3333333,
        5.9604645e-08, 6.1035156e-05, 3.14159265]
f32 = np.array(vals, dtype=np.float32)
# Ties at every shift of the subnormal range: (2k + 1) * 2^-25 for small k.
ties = np.array([(2 * k + 1) * 2.0 ** -25 for k in range(40)], dtype=np.float32)
exps = rng.uniform(-30, 18, size=3000)
rand = (rng.uniform(1, 2, size=3000) * 2.0 ** exps * rng.choice([-1, 1], size=3000)).astype(np.float32)
allv = np.concatenate([f32, ties, -ties, rand])
bits32 = allv.view(np.uint32)
bits16 = allv.astype(np.float16).view(np.uint16)
cases = [[int(a), int(b)] for a, b in zip(bits32, bits16)]
# NaN: a quiet NaN (numpy keeps the payload's top bits; rnnkit writes 0x7e00 with the sign).
nan = np.array([np.nan], dtype=np.float32)
json.dump({'command': 'python3 tools/golden/make_float16_golden.py > test/golden/float16.json',
           'numpy': np.__version__, 'cases': cases,
           'nan': [int(nan.view(np.uint32)[0]), int(nan.astype(np.float16).view(np.uint16)[0])]},
          sys.stdout, separators=(',', ':'))
sys.stdout.write('\n')
