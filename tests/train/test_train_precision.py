"""Training precision: opt-in bfloat16 autocast on CPUs with AMX for the training step only, float32 elsewhere."""

from __future__ import annotations

import pytest
import torch
from helpers_stacks import make_splits

import gee_landslide.train.precision as precision
import gee_landslide.train.trainer as trainer
from gee_landslide.train.profile import load_profile
from gee_landslide.train.sweep import expand_grid
from gee_landslide.train.trainer import train_run


@pytest.mark.parametrize(("cpu_bf16", "amx", "name", "fmt"), [
    (True, True, "bf16", torch.contiguous_format),
    (True, False, "fp32", torch.channels_last),
    (False, True, "fp32", torch.channels_last),
])
def test_cpu_precision_follows_the_option_and_the_hardware(monkeypatch, cpu_bf16, amx, name, fmt):
    monkeypatch.setattr(precision, "cpu_has_amx_bf16", lambda: amx)
    p = precision.training_precision(torch.device("cpu"), amp=True, cpu_bf16=cpu_bf16)
    assert (p.name, p.memory_format, p.scaled) == (name, fmt, False)
    with p.autocast():
        out = torch.nn.functional.conv2d(torch.randn(1, 2, 8, 8), torch.randn(3, 2, 3, 3))
    assert out.dtype == (torch.bfloat16 if name == "bf16" else torch.float32)


def test_amx_detection_reads_the_cpu_capabilities(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True, "amx_tile": True}, raising=False)
    assert precision.cpu_has_amx_bf16()
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": False, "avx512_bf16": True},
                        raising=False)
    assert not precision.cpu_has_amx_bf16()


@pytest.mark.parametrize("amx", [True, False])
def test_a_short_run_learns_in_either_precision_and_infers_in_float32(tmp_path, monkeypatch, amx):
    """A few steps on tiny scenes beat chance; with ``cpu_bf16`` the training forward is bfloat16 only with AMX,
    and validation/test inference is float32 either way (thresholds come from float32 maps)."""
    monkeypatch.setattr(precision, "cpu_has_amx_bf16", lambda: amx)
    splits = make_splits(tmp_path / "stacks", 2, 1, 1, size=96)
    prof = load_profile("smoke").model_copy(update={
        "architectures": ["Linknet"], "losses": ["BCE"], "iterations_per_epoch": 30, "max_epochs": 2,
        "learning_rates": [0.003]})
    cfg = expand_grid(prof, splits)[0]
    seen: list[tuple[bool, torch.dtype]] = []
    real_create = trainer.create_model

    def create_and_watch(*args, **kwargs):
        model = real_create(*args, **kwargs)
        first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        first_conv.register_forward_hook(lambda m, i, o: seen.append((m.training, o.dtype)))
        return model

    monkeypatch.setattr(trainer, "create_model", create_and_watch)
    rec = train_run(cfg, tmp_path / "runs", tmp_path / "stacks", amp=True, cpu_bf16=True)
    assert rec["precision"] == ("bf16" if amx else "fp32")
    assert {d for training, d in seen if training} == {torch.bfloat16 if amx else torch.float32}
    assert {d for training, d in seen if not training} == {torch.float32}
    test = rec["test"]["all"]
    prevalence = (test["tp"] + test["fn"]) / (test["tp"] + test["fn"] + test["fp"] + test["tn"])
    assert rec["test_metrics"]["f1"] > 0.6 > 10 * prevalence  # a random mask scores about the prevalence


def test_the_laptop_profile_trains_in_float32_unless_asked():
    prof = load_profile("laptop")
    assert prof.cpu_bf16 is False
    assert precision.training_precision(torch.device("cpu"), prof.amp, prof.cpu_bf16).name == "fp32"
