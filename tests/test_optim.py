import pytest
import torch

from otter.optim import PolynomialLRWarmup


def lrs(warmup, total, steps, power=1.0):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = PolynomialLRWarmup(opt, warmup_iters=warmup, total_iters=total, power=power)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_rises_then_decays_to_zero():
    values = lrs(warmup=4, total=12, steps=14)
    assert values[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(a >= b for a, b in zip(values[4:], values[5:]))
    assert values[12:] == [0.0, 0.0]


def test_power_shapes_the_decay():
    linear, square = lrs(0, 10, 6), lrs(0, 10, 6, power=2.0)
    assert square[5] == pytest.approx(linear[5] ** 2)


def test_minus_one_is_refused_outside_a_config():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="Otter derives it"):
        PolynomialLRWarmup(opt, warmup_iters=-1, total_iters=-1)
