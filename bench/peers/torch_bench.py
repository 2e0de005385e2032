#!/usr/bin/env python3
"""PyTorch peer for `npm run bench:peers` (driven by bench/peers/run.ts; not run by tests).

    python3 bench/peers/torch_bench.py --spec '{"kind":"charlm","cell":"lstm",...}' --threads default|1

Builds the workload described by the JSON spec (the same shapes as bench/bench.ts), prints one
JSON line `{"ready": true, "info": {...}}` (or `{"skip": "reason"}`), then answers JSON commands
read one per line on stdin, the protocol shared with bench/peers/worker.ts:

    {"cmd": "run", "n": 5}   ->  {"times": [ms, ...], "cpuMs": ..., "wallMs": ...}
    {"cmd": "stats"}         ->  {"peakRssMB": ...}
    {"cmd": "quit"}

Threads: 'default' keeps PyTorch's own start (its intra-op pool as it comes up, and the BLAS
library's own thread count); '1' sets torch.set_num_threads(1), and the driver also sets
OMP_NUM_THREADS=1 and OPENBLAS_NUM_THREADS=1 in the environment of this process.
"""
import argparse
import ctypes
import json
import os
import resource
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def blas_library():
    """Path of the BLAS library PyTorch's products run on, and OpenBLAS's thread count. Debian's
    PyTorch links libblas.so.3, which the system's alternatives point at the reference BLAS or at
    OpenBLAS; liblapack.so.3 may map OpenBLAS too while libblas.so.3 is the reference one, so a
    mapped libblas.so* outside OpenBLAS's directories is the answer whenever there is one."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if p.startswith("/") and "blas" in os.path.basename(p):
                    p = os.path.realpath(p)
                    if p not in paths:
                        paths.append(p)
    except OSError:
        pass
    reference = [p for p in paths if os.path.basename(p).startswith("libblas.so") and "openblas" not in p]
    openblas = sorted((p for p in paths if "openblas" in p), key=lambda p: "libopenblas" not in p)
    path = (reference or openblas or paths or [None])[0]
    threads = None
    if path and "openblas" in path:
        try:
            lib = ctypes.CDLL(path)
            threads = int(lib.openblas_get_num_threads())
        except (OSError, AttributeError):
            pass
    return path, threads


def build(spec, torch):
    nn = torch.nn
    F = torch.nn.functional
    torch.manual_seed(1)
    kind = spec["kind"]
    B, T = spec["B"], spec["T"]
    if kind == "charlm":
        V, E, H = spec["V"], spec["E"], spec["H"]
        cell = {"lstm": nn.LSTM, "gru": nn.GRU, "simpleRNN": nn.RNN}[spec["cell"]]
        emb, rnn, fc = nn.Embedding(V, E), cell(E, H, batch_first=True), nn.Linear(H, V)
        params = [*emb.parameters(), *rnn.parameters(), *fc.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)
        x = torch.randint(V, (B, T))
        y = torch.randint(V, (B, T))

        def step():
            opt.zero_grad(set_to_none=True)
            out, _ = rnn(emb(x))
            # cross_entropy = log_softmax + NLL: rnnkit's Dense(softmax) + sparse CE, fused.
            loss = F.cross_entropy(fc(out).reshape(-1, V), y.reshape(-1))
            loss.backward()
            opt.step()
        return step, B * T, B
    if kind == "sentiment":
        V, E, H = spec["V"], spec["E"], spec["H"]
        emb, rnn, fc = nn.Embedding(V, E), nn.LSTM(E, H, batch_first=True), nn.Linear(H, 1)
        params = [*emb.parameters(), *rnn.parameters(), *fc.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)
        x = torch.randint(V, (B, T))
        y = torch.randint(2, (B, 1)).float()

        def step():
            opt.zero_grad(set_to_none=True)
            _, (h, _) = rnn(emb(x))
            # BCE-with-logits = sigmoid + binary cross-entropy, fused.
            loss = F.binary_cross_entropy_with_logits(fc(h[-1]), y)
            loss.backward()
            opt.step()
        return step, B * T, B
    if kind in ("layer-train", "layer-infer"):
        I, H = spec["I"], spec["H"]
        lstm = nn.LSTM(I, H, batch_first=True)
        x = torch.rand(B, T, I) * 2 - 1
        if kind == "layer-infer":
            lstm.eval()

            def step():
                with torch.inference_mode():
                    lstm(x)
            return step, B * T, B
        dy = torch.rand(B, T, H) * 2 - 1
        opt = torch.optim.Adam(lstm.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            y, _ = lstm(x)
            y.backward(dy)
            opt.step()
        return step, B * T, B
    if kind == "generate":
        # One character at a time (batch 1), the LSTM states carried, the next character drawn
        # from the softmax at temperature 0.8 (torch.multinomial), all under inference_mode.
        V, E, H, L = spec["V"], spec["E"], spec["H"], spec["L"]
        emb, rnn, fc = nn.Embedding(V, E), nn.LSTM(E, H, L, batch_first=True), nn.Linear(H, V)
        for m in (emb, rnn, fc):
            m.eval()
        gen = torch.Generator().manual_seed(1)

        def step():
            with torch.inference_mode():
                x, state = torch.zeros(1, 1, dtype=torch.long), None
                for _ in range(T):
                    y, state = rnn(emb(x), state)
                    p = torch.softmax(fc(y[:, -1]) / 0.8, -1)
                    x = torch.multinomial(p, 1, generator=gen)
        return step, T, 1
    raise ValueError(f"unknown workload kind {kind!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--threads", default="default", choices=["default", "1"])
    args = ap.parse_args()
    spec = json.loads(args.spec)
    try:
        import torch
    except ImportError as e:
        emit({"skip": f"PyTorch is not importable ({e})"})
        return
    if args.threads == "1":
        torch.set_num_threads(1)
    # Subnormal floats flushed to zero, as a user tuning PyTorch for speed would: W3's gradients
    # through 200 steps go subnormal, and its backward ran 4x slower with them on this machine
    # (846 against 210 ms per step). WebAssembly cannot set such a mode; rnnkit's gate passes
    # flush values below 2^-96 themselves (docs/performance.md, Subnormal numbers).
    ftz = bool(torch.set_flush_denormal(True))
    t0 = time.perf_counter()
    step, tokens, sequences = build(spec, torch)
    blas, blas_threads = blas_library()
    emit({"ready": True, "info": {
        "version": torch.__version__,
        "intraOpThreads": torch.get_num_threads(),
        "blas": blas,
        "blasThreads": blas_threads,
        "tokensPerStep": tokens,
        "sequencesPerStep": sequences,
        "setupMs": (time.perf_counter() - t0) * 1000,
        "notes": ["subnormals flushed to zero (torch.set_flush_denormal(True))" if ftz
                  else "subnormals not flushed (torch.set_flush_denormal is not supported here)"],
    }})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "run":
            times = []
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(cmd["n"]):
                t = time.perf_counter()
                step()
                times.append((time.perf_counter() - t) * 1000)
            emit({"times": times, "cpuMs": (time.process_time() - c0) * 1000, "wallMs": (time.perf_counter() - w0) * 1000})
        elif cmd["cmd"] == "stats":
            emit({"peakRssMB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
        elif cmd["cmd"] == "quit":
            return


if __name__ == "__main__":
    main()
