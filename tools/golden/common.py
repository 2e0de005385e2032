# Helpers the golden-value scripts share (make_attention_golden.py, make_transformer_golden.py):
# inputs rounded to float32-representable values and kept in float64, so that rnnkit's float32
# and float64 runs start from the very same numbers, and tensors flattened for JSON.
import torch


def f32(t):
    """Rounds to float32-representable values, kept in float64."""
    return t.to(torch.float32).to(torch.float64)


def rand(*shape, scale=1.0):
    """Uniform in [-scale, scale), float32-representable, from torch's global generator."""
    return f32((torch.rand(*shape, dtype=torch.float64) * 2 - 1) * scale)


def flat(t):
    """A tensor's values, row-major, as a list of Python floats."""
    return [float(x) for x in t.detach().reshape(-1).tolist()]
