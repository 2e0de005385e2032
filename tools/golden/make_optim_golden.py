# Reference trajectories from torch.optim for test/optim.test.ts (tests do not need torch).
#
# Regenerate (from the repository root; PyTorch 1.13, Debian python3-torch):
#     /usr/bin/python3 tools/golden/make_optim_golden.py > test/golden/optim.json
#
# One fixed float64 parameter vector and one fixed sequence of float64 gradients (mixed
# magnitudes, including an all-zero coordinate so epsilon matters) are fed to each optimiser;
# the parameters after every step are recorded. Each case also carries the equivalent rnnkit
# config (epsilonMode 'torch' where the optimiser has an epsilon) and, optionally, a learning
# rate per step (set on the param group before that step) to exercise lr changes.
import json
import torch

torch.manual_seed(1234)
N, STEPS = 8, 6
scales = torch.tensor([1.0, 0.1, 1e-3, 1e-5, 10.0, 1.0, 0.5, 0.0], dtype=torch.float64)
params0 = torch.randn(N, dtype=torch.float64)
grads = [torch.randn(N, dtype=torch.float64) * scales for _ in range(STEPS)]
# a sign flip at a fixed step makes momentum / amsgrad paths non-trivial
grads[3] = -grads[3] * 2

lr_sched = [0.1, 0.1, 0.05, 0.05, 0.2, 0.02]

cases = [
    ("sgd", "SGD", dict(lr=0.1), dict(learningRate=0.1), None),
    ("sgd_momentum_dampening_lrchange", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.1),
     dict(learningRate=0.1, momentum=0.9, dampening=0.1), lr_sched),
    ("sgd_nesterov_wd", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
     dict(learningRate=0.1, momentum=0.9, nesterov=True, weightDecay=0.01), None),
    ("adam", "Adam", dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8),
     dict(learningRate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8, epsilonMode="torch"), None),
    ("adam_amsgrad_wd", "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, amsgrad=True, weight_decay=0.01),
     dict(learningRate=0.01, beta1=0.8, beta2=0.99, epsilon=1e-6, amsgrad=True, weightDecay=0.01, epsilonMode="torch"), None),
    ("adamw", "AdamW", dict(lr=0.01, eps=1e-8, weight_decay=0.1),
     dict(learningRate=0.01, epsilon=1e-8, weightDecay=0.1, epsilonMode="torch"), None),
    ("adamw_amsgrad_lrchange", "AdamW", dict(lr=0.1, eps=1e-7, weight_decay=0.05, amsgrad=True),
     dict(learningRate=0.1, epsilon=1e-7, weightDecay=0.05, amsgrad=True, epsilonMode="torch"), lr_sched),
    ("rmsprop", "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-8),
     dict(learningRate=0.01, rho=0.9, epsilon=1e-8, epsilonMode="torch"), None),
    ("rmsprop_centered_momentum_wd_lrchange", "RMSprop",
     dict(lr=0.01, alpha=0.95, eps=1e-6, centered=True, momentum=0.5, weight_decay=0.01),
     dict(learningRate=0.01, rho=0.95, epsilon=1e-6, centered=True, momentum=0.5, weightDecay=0.01, epsilonMode="torch"), lr_sched),
    ("adagrad", "Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-10),
     dict(learningRate=0.1, initialAccumulatorValue=0.1, epsilon=1e-10, epsilonMode="torch"), None),
    ("adagrad_zero_init_wd", "Adagrad", dict(lr=0.1, initial_accumulator_value=0.0, eps=1e-10, weight_decay=0.01),
     dict(learningRate=0.1, initialAccumulatorValue=0.0, epsilon=1e-10, weightDecay=0.01, epsilonMode="torch"), None),
]

out_cases = []
for name, cls, tcfg, rcfg, lrs in cases:
    p = params0.clone().requires_grad_(True)
    opt = getattr(torch.optim, cls)([p], **tcfg)
    traj = []
    for s in range(STEPS):
        if lrs is not None:
            for g in opt.param_groups:
                g["lr"] = lrs[s]
        p.grad = grads[s].clone()
        opt.step()
        traj.append(p.detach().clone().tolist())
    out_cases.append({
        "name": name,
        "optimizer": cls.lower(),
        "torch": f"torch.optim.{cls}({', '.join(f'{k}={v!r}' for k, v in tcfg.items())})",
        "rnnkit": rcfg,
        "lrs": lrs,
        "params": traj,
    })

print(json.dumps({
    "generator": "tools/golden/make_optim_golden.py",
    "command": "/usr/bin/python3 tools/golden/make_optim_golden.py > test/golden/optim.json",
    "torch_version": torch.__version__,
    "params0": params0.tolist(),
    "grads": [g.tolist() for g in grads],
    "cases": out_cases,
}, indent=1))
