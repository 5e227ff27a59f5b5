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


class FakeClock:
    def __init__(self, start: float = 100.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


def timed(max_seconds, clock, total=100):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    return opt, PolynomialLRWarmup(opt, warmup_iters=0, total_iters=total, max_seconds=max_seconds, clock=clock)


def test_a_time_budget_anneals_to_zero_when_the_steps_would_not():
    clock = FakeClock()
    opt, sched = timed(10.0, clock)
    seen = []
    for _ in range(5):  # 5 of 100 steps, but 2 of the 10 seconds each
        clock.now += 2.0
        opt.step()
        sched.step()
        seen.append(opt.param_groups[0]["lr"])
    assert seen == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0])


def test_on_a_fast_machine_the_steps_decide():
    clock = FakeClock()
    opt, sched = timed(1000.0, clock, total=10)
    for _ in range(4):
        clock.now += 0.001
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(lrs(0, 10, 5)[4])


def test_without_a_budget_the_clock_is_not_read():
    def clock():
        raise AssertionError("read")

    opt, sched = timed(0.0, clock)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.99)


def test_a_resumed_run_goes_on_from_the_time_spent(tmp_path):
    first = FakeClock(100.0)
    opt, sched = timed(10.0, first)
    first.now += 6.0
    opt.step()
    sched.step()
    torch.save(sched.state_dict(), tmp_path / "sched.pt")
    state = torch.load(tmp_path / "sched.pt", weights_only=True)  # plain numbers only
    assert state["elapsed"] == pytest.approx(6.0)

    second = FakeClock(5000.0)  # another process: its clock has another origin
    opt2, sched2 = timed(10.0, second)
    sched2.load_state_dict(state)
    second.now += 2.0
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.2)  # 8 of the 10 seconds spent


def test_a_negative_budget_is_refused():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="max_seconds >= 0"):
        PolynomialLRWarmup(opt, warmup_iters=0, total_iters=5, max_seconds=-1)


@pytest.mark.parametrize("max_seconds, timed", [(-1, True), (290, True), (0, False), (None, False)])
def test_a_run_whose_lr_follows_the_clock_says_it_is_not_bit_exact(tmp_path, max_seconds, timed):
    from otter.config import Config
    from otter.resume import GUARANTEES, TIMED_LR, run_guards

    options = {"warmup_iters": -1, "total_iters": -1}
    if max_seconds is not None:
        options["max_seconds"] = max_seconds
    cfg = Config(
        {
            "common": {"seed": 7},
            "trainer": {"accelerator": "cpu", "max_time": "00:00:04:50"},
            "lr_scheduler": {"name": "PolynomialLRWarmup", "options": options},
        }
    )
    run_guards(cfg, [], tmp_path)
    assert cfg.common.resume_guarantee == "cpu: " + GUARANTEES["cpu"] + (TIMED_LR if timed else "")
