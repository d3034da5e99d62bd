"""Skill machinery: baselines, threshold choice, loss masking, schedules, voting ensembles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers_stacks import B, synthetic_scene

from gee_landslide.train.baselines import BoostedTrees, DndviRule
from gee_landslide.train.data import Scene
from gee_landslide.train.ensemble import combine, ensemble_score
from gee_landslide.train.losses import LOSSES, create_loss
from gee_landslide.train.metrics import (
    PROB_CANDIDATES,
    best_threshold,
    confusion,
    evaluation_mask,
    threshold_curve,
)
from gee_landslide.train.trainer import mask_uncounted


def scene(seed: int, shift: float = 0.0, size: int = 64) -> Scene:
    s, lab = synthetic_scene(seed, size)
    s[B["dNDVI"]] += shift
    return Scene(f"ev-{seed}", s, lab)


def test_best_threshold_matches_brute_force():
    rng = np.random.default_rng(0)
    scenes = [scene(i) for i in range(3)]
    scores = [np.clip(sc.labels * 0.5 + rng.uniform(0, 0.6, sc.labels.shape), 0, 1).astype(np.float32)
              for sc in scenes]
    scores[0][0, 0] = np.nan  # never positive
    t, counts = best_threshold(scores, scenes, PROB_CANDIDATES, "visible")
    brute = []
    for cand in PROB_CANDIDATES:
        total = None
        for sc, s in zip(scores, scenes, strict=True):
            c = confusion(np.nan_to_num(sc, nan=-1) > cand, s.labels, evaluation_mask(s.stack, "visible"))
            total = c if total is None else total + c
        brute.append((total.f1, cand, total))
    best_f1 = max(f for f, _, _ in brute)
    assert counts.f1 == pytest.approx(best_f1)
    assert any(c == t and tot == counts for _, c, tot in brute)
    # the whole curve is the brute force's, candidate by candidate: what the report's plateau reads
    curve = threshold_curve(scores, scenes, PROB_CANDIDATES, "visible")
    assert [(c, n) for c, n in curve] == [(c, tot) for _, c, tot in brute]


def test_a_threshold_choice_says_how_firmly_validation_chose_it():
    from gee_landslide.train.ensemble import ThresholdChoice

    low = PROB_CANDIDATES[0]
    flat_at_bottom = ThresholdChoice(low, 0.938, (low, 0.30)).describe()
    assert "threshold 0.05" in flat_at_bottom and "from 0.05 to 0.30" in flat_at_bottom
    assert "lowest candidate" in flat_at_bottom
    mid_plateau = ThresholdChoice(0.15, 0.951, (0.10, 0.30)).describe()
    assert "from 0.10 to 0.30" in mid_plateau and "lowest candidate" not in mid_plateau
    sharp = ThresholdChoice(0.55, 0.922, (0.55, 0.55)).describe()  # one member keeps its own threshold
    assert sharp == "threshold 0.55 (validation F1 0.922)"


def test_dndvi_rule_is_fitted_on_the_events_it_is_given_only():
    fit_on = [scene(1), scene(2)]
    rule = DndviRule().fit(fit_on)
    assert rule.fitted_on == ("ev-1", "ev-2")
    # the landslides lower dNDVI by 0.35 around 0 (noise sd 0.05): the fitted cut lies between
    assert -0.33 < rule.threshold < -0.02
    # a test scene whose scars are far weaker would want another threshold; the rule must not move
    before = rule.threshold
    weak = scene(3, shift=0.0)
    weak.stack[B["dNDVI"]][weak.labels > 0] += 0.3
    rule.predict(weak.stack)
    assert rule.threshold == before
    refit = DndviRule().fit([*fit_on, weak])
    assert refit.threshold != before  # ...which shows the fit really depends on its events


def test_dndvi_rule_never_flags_missing_optical_data():
    sc = scene(4)
    sc.stack[B["dNDVI"], :10, :10] = np.nan
    assert not DndviRule(threshold=10.0).predict(sc.stack)[:10, :10].any()


def test_boosted_trees_learn_landslides_and_pick_their_threshold_on_validation():
    train, val, test = [scene(i) for i in (1, 2, 3)], [scene(4)], scene(5)
    bt = BoostedTrees("s2", max_pixels=6000, max_iter=30).fit(train, val)
    assert bt.fitted_on == ("ev-1", "ev-2", "ev-3")
    assert bt.threshold in PROB_CANDIDATES
    c = confusion(bt.predict(test.stack), test.labels, evaluation_mask(test.stack, "visible"))
    chance = test.labels.mean()
    assert c.f1 > 0.6 > 2 * chance


@pytest.mark.parametrize("loss", list(LOSSES))
def test_uncounted_pixels_do_not_steer_any_loss(loss):
    torch.manual_seed(0)
    fn = create_loss(loss)
    target = (torch.rand(2, 1, 16, 16) > 0.7).float()
    counted = torch.ones_like(target, dtype=torch.bool)
    counted[:, :, :, 10:] = False  # e.g. padding or layover
    a = torch.randn(2, 1, 16, 16, requires_grad=True)
    b = a.detach().clone()
    b[:, :, :, 10:] = torch.randn(2, 1, 16, 6) * 10  # garbage where nothing is counted
    b.requires_grad_(True)
    la = fn(*mask_uncounted(a, target, counted))
    lb = fn(*mask_uncounted(b, target, counted))
    assert float(la.detach()) == pytest.approx(float(lb.detach()), rel=1e-5, abs=1e-6)
    lb.backward()
    assert float(b.grad[:, :, :, 10:].abs().max()) == 0.0
    assert float(b.grad[:, :, :, :10].abs().max()) > 0.0


def test_onecycle_schedule_needs_max_epochs_and_decays():
    from gee_landslide.train.profile import ProfileError, load_profile, parse_profile

    laptop = load_profile("laptop").model_dump()
    with pytest.raises(ProfileError, match="max_epochs"):
        parse_profile({**laptop, "lr_schedule": "onecycle", "max_epochs": None}, "x.yaml")
    from gee_landslide.train.runs import RunConfig
    from gee_landslide.train.trainer import make_scheduler

    cfg = RunConfig(setting="s2", architecture="Unet", loss="Dice", learning_rate=0.01, encoder="resnet18",
                    crop_size=64, batch_size=2, iterations_per_epoch=10, max_epochs=3, patience=3,
                    lr_schedule="onecycle", train_events=("a",), val_events=("b",), test_events=("c",))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    sched = make_scheduler(cfg, opt)
    lrs = []
    for _ in range(30):
        opt.step()
        sched.step() if len(lrs) < 29 else None
        lrs.append(opt.param_groups[0]["lr"])
    assert max(lrs) == pytest.approx(0.01, rel=0.05)
    assert lrs[0] < 0.002 and lrs[-1] < 0.001


def test_vote_aggregation_averages_member_maps():
    probs = np.array([[[0.9, 0.2]], [[0.6, 0.45]], [[0.1, 0.8]]], np.float32)  # (M=3, 1, 2)
    own = np.array([0.5, 0.4, 0.7], np.float32)
    votes = ensemble_score(probs, "vote", own)
    np.testing.assert_allclose(votes, [[2 / 3, 2 / 3]])
    mean = ensemble_score(probs, "mean", own)
    np.testing.assert_allclose(mean, probs.mean(0))
    pred = combine(probs, 0.5, own, "vote")
    assert pred.mask.tolist() == [[True, True]]
    assert combine(probs, 0.5, own, "mean").mask.tolist() == [[True, False]]


@pytest.mark.parametrize("arch", ["Unet", "PAN"])  # no dropout in these decoders (DeepLab/FPN have some)
def test_group_norm_models_compute_the_same_in_train_and_eval_mode(arch):
    from gee_landslide.train.architectures import create_model

    torch.manual_seed(0)
    m = create_model(arch, 3, "tu-mobilenetv3_small_100", None, norm="group")
    assert not any(isinstance(x, torch.nn.modules.batchnorm._BatchNorm) for x in m.modules())
    x = torch.randn(4, 3, 128, 128)
    m.train()
    with torch.no_grad():
        a = m(x)
        a0 = m(x[:2])  # a sample's output does not depend on the rest of its batch
    m.eval()
    with torch.no_grad():
        b = m(x)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:2], a0, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # inference runs whole scenes one at a time
        assert m.eval()(x[:1, :, :, :96].repeat(1, 1, 1, 2)[..., :160]).shape == (1, 1, 128, 160)


def test_full_resolution_head_starts_as_the_base_model_and_keeps_the_stride():
    from gee_landslide.train.architectures import FullResRefine, create_model
    from gee_landslide.train.constraints import input_multiple

    torch.manual_seed(0)
    base = create_model("FPN", 2, "tu-mobilenetv3_small_100", None, norm="group")
    torch.manual_seed(0)
    wrapped = create_model("FPN", 2, "tu-mobilenetv3_small_100", None, norm="group", refine=True)
    assert isinstance(wrapped, FullResRefine)
    assert input_multiple(wrapped) == input_multiple(base) == 32
    x = torch.randn(1, 2, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(wrapped.eval()(x), base.eval()(x))
    # the head is trainable: one step moves it away from the base
    opt = torch.optim.SGD(wrapped.refine.parameters(), lr=0.1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(wrapped.train()(x), torch.ones(1, 1, 64, 64))
    loss.backward()
    opt.step()
    assert float(wrapped.refine[-1].weight.detach().abs().sum()) > 0


def test_a_deeper_refinement_head_sees_farther_and_still_starts_as_the_base_model():
    """Depth 2 widens what the head sees from 5x5 to 7x7 pixels; depth 1 keeps the layout (and so the
    weights files) of every run made before the option existed."""
    from gee_landslide.train.architectures import FullResRefine, create_model

    torch.manual_seed(0)
    base = create_model("Unet", 2, "tu-mobilenetv3_small_100", None, norm="group").eval()
    old = FullResRefine(base, 2)
    assert sorted(k for k in old.state_dict() if k.startswith("refine.")) == [
        "refine.0.bias", "refine.0.weight", "refine.1.bias", "refine.1.weight", "refine.3.bias", "refine.3.weight"]
    deep = FullResRefine(base, 2, width=8, depth=2).eval()
    convs = [m for m in deep.refine if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 8), (8, 8), (8, 1)]
    x = torch.randn(1, 2, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(deep(x), base(x))
        # three 3x3 layers: a logit depends on the bands 3 pixels away (GroupNorm aside, which pools the
        # whole map), one more than the old head's two
        assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
        assert len([m for m in old.refine if isinstance(m, torch.nn.Conv2d)]) == 2
    with pytest.raises(ValueError, match="width >= 1 and depth >= 1, got width=16, depth=0"):
        FullResRefine(base, 2, depth=0)


def test_onehot_gives_each_land_cover_class_its_own_channel_and_survives_a_round_trip():
    from gee_landslide.train.data import CLASS_CODES, Normalisation

    dndvi = np.array([[0.1, -0.5], [np.nan, 0.0]], np.float32)
    cart = np.array([[2, 3], [9, np.nan]], np.float32)
    norm = Normalisation.compute([np.stack([cart, dndvi])], ("CART_LC_classified", "dNDVI"), "onehot")
    codes = CLASS_CODES["CART_LC_classified"]
    assert norm.out_channels == len(codes) + 1
    assert norm.channel_names[: len(codes)] == tuple(f"CART_LC_classified={k}" for k in codes)
    x = norm.apply(np.stack([cart, dndvi]))
    assert x.shape == (len(codes) + 1, 2, 2)
    hot = x[: len(codes)]
    assert hot[codes.index(2), 0, 0] == 1 and hot[codes.index(9), 1, 0] == 1
    assert hot.sum(axis=0).tolist() == [[1, 1], [1, 0]]  # one class per pixel, none where the code is NaN
    assert np.isfinite(x).all() and x[-1, 1, 0] == 0  # NaN dNDVI -> the band mean
    back = Normalisation.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert back == norm and np.array_equal(back.apply(np.stack([cart, dndvi])), x)
    # scaled codes (the paper) keep their old dictionary, so older runs keep their digest
    scaled = Normalisation.compute([np.stack([cart, dndvi])], ("CART_LC_classified", "dNDVI"))
    assert "onehot" not in scaled.to_dict() and scaled.out_channels == 2
    with pytest.raises(ValueError, match="categorical encoding"):
        Normalisation.compute([np.stack([cart, dndvi])], ("CART_LC_classified", "dNDVI"), "ordinal")
