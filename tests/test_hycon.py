"""HyCon (seed 002) as the `hycon` fusion + `hycon_*` loss terms on the tiny BERT."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from affect_models import HYCON_LOSSES, affect_batch, hycon_model, text_only
from conftest import REPO, run_cli
from test_model_modeling import tiny_bert  # noqa: F401
from test_training_helpers import single_thread, tiny_encoder  # noqa: F401

from labelsync.data.synthetic_tasks import write_mmsa
from labelsync.model import AMessConfig, AMessModel
from labelsync.model.fusion import fusion_options
from labelsync.model.hycon_losses import HYCON_TERMS
from labelsync.model.method_options import HyconOptions
from labelsync.training import TrainConfig
from labelsync.training.sweep import Sweep

B, M, D = 5, 3, 4
CLASSES = [0, 1, 0, 1, 1]


def _hand(x: torch.Tensor, options: HyconOptions) -> dict[str, list[float]]:
    """Every HyCon term per sample, from the equations with plain loops."""
    p = x.softmax(dim=-1)
    h = max(1, round(B * options.selection_ratio))

    def s(a, b):
        return float(p[a] @ p[b])

    def contrast(anchor, pos, neg):
        sp, sn = [s(anchor, q) for q in pos], [s(anchor, q) for q in neg]
        if not sp or not sn:
            return math.nan, []
        if options.select_positives:  # eq. 13 (lowest h), eq. 14 weights, eq. 15
            sp = sorted(sp)[:h]
            w = [math.exp(1 / (v + options.selection_gamma)) for v in sp]
            total_p = sum(v * wi / sum(w) for v, wi in zip(sp, w, strict=True))
        else:
            total_p = sum(sp)
        if options.select_negatives:
            sn = sorted(sn, reverse=True)[:h]
            w = [math.exp(v) for v in sn]
            total_n = sum(v * wi / sum(w) for v, wi in zip(sn, w, strict=True))
        else:
            total_n = sum(sn)
        return -total_p / (total_p + total_n), sp

    terms: dict[str, list[list[float]]] = {name: [[] for _ in range(B)] for name in HYCON_TERMS}
    for i, m in itertools.product(range(B), range(M)):
        a = (i, m)
        semi = [(i, n) for n in range(M) if n != m]  # eq. 6
        terms["hycon_scl"][i].append(sum((s(a, q) - options.margin) ** 2 for q in semi) / 2)
        for kind, same_mod in (("iamcl", True), ("iemcl", False)):
            others = [
                (j, n)
                for j, n in itertools.product(range(B), range(M))
                if j != i and (n == m) == same_mod
            ]
            pos = [q for q in others if CLASSES[q[0]] == CLASSES[i]]
            neg = [q for q in others if CLASSES[q[0]] != CLASSES[i]]
            loss, used = contrast(a, pos, neg)  # eqs. 7 / 10
            target = 1.0 if kind == "iamcl" else options.margin  # eqs. 8 / 11
            refine = sum((v - target) ** 2 for v in used) / len(used) if used else math.nan
            terms[f"hycon_{kind}"][i].append(loss)
            terms[f"hycon_{kind}_refine"][i].append(refine)
    return {name: [sum(v) / len(v) for v in rows] for name, rows in terms.items()}


@pytest.mark.parametrize(
    "options",
    [
        HyconOptions(select_positives=False, select_negatives=False),  # HyCon
        HyconOptions(),  # HyCon-v2: both selections, beta 0.2 -> h = 1
        HyconOptions(selection_ratio=0.4, select_negatives=False, margin=1.0),
    ],
)
def test_every_term_matches_the_equations(options):
    x = torch.randn(B, M, D, generator=torch.Generator().manual_seed(0))
    scores = torch.tensor([-1.0 if c == 0 else 0.5 for c in CLASSES])
    scores[1] = 0.0  # 0 counts as non-negative
    out = SimpleNamespace(aux={"hycon": x})
    model = SimpleNamespace(fusion=SimpleNamespace(options=options))
    context = SimpleNamespace(
        task="regression",
        scores=scores,
        labels=torch.zeros(B, dtype=torch.long),
        in_range=torch.ones(B, dtype=torch.bool),
    )
    want = _hand(x, options)
    for name, fn in HYCON_TERMS.items():
        got = fn(model, out, context)
        assert got.tolist() == pytest.approx(want[name], rel=1e-5), name


def test_pair_selection_weights_give_no_gradient_to_positive_weights():
    x = torch.randn(B, M, D, generator=torch.Generator().manual_seed(1), requires_grad=True)
    options = HyconOptions(selection_ratio=0.6)
    out = SimpleNamespace(aux={"hycon": x})
    model = SimpleNamespace(fusion=SimpleNamespace(options=options))
    context = SimpleNamespace(
        task="single_label",
        labels=torch.tensor(CLASSES),
        in_range=torch.tensor([True, True, True, True, False]),  # sample 4 takes no part
    )
    loss = HYCON_TERMS["hycon_iamcl"](model, out, context)
    assert math.isnan(loss[4].item()) and not loss[:4].isnan().any()
    loss[:4].sum().backward()
    assert x.grad[4].abs().sum() == 0 and x.grad[:4].abs().sum() > 0


def test_every_parameter_gets_a_gradient(tiny_bert):  # noqa: F811
    for text in (False, True):
        model = hycon_model(tiny_bert, text_only=text).train()
        batch = text_only(affect_batch()) if text else affect_batch()
        batch["score"] = batch["score"] + 0.7  # MAE's bias gradient is 0 with errors of even sign
        out = model(batch)
        out.loss.backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
        assert missing == [], (text, missing)
        assert out.logits.shape == (6, 1) and model.classifier is None
        assert set(out.loss_parts) == {"mae", *HYCON_LOSSES}


def test_prediction_is_a_head_over_the_sum_of_the_unimodal_representations(tiny_bert):  # noqa: F811
    model = hycon_model(tiny_bert).eval()
    out = model(affect_batch())
    x = out.aux["hycon"]
    assert x.shape == (6, 3, 10)
    assert torch.allclose(out.logits, model.fusion.head(x.sum(dim=1)), atol=1e-6)  # eq. 2
    assert out.loss_parts["mae"].item() == pytest.approx(
        (out.logits[:, 0] - affect_batch()["score"]).abs().mean().item(), rel=1e-5
    )


@pytest.mark.parametrize(
    "group",
    [
        ["hycon_iamcl", "hycon_iamcl_refine"],
        ["hycon_iemcl"],
        ["hycon_scl"],
        ["hycon_iamcl_refine", "hycon_iemcl_refine"],
    ],
)
def test_each_ablation_removes_exactly_its_terms(tiny_bert, group):  # noqa: F811
    batch = affect_batch()
    full = hycon_model(tiny_bert).eval()(batch)
    without = hycon_model(tiny_bert, losses=HYCON_LOSSES | dict.fromkeys(group, 0.0)).eval()(batch)
    gap = full.loss - without.loss
    assert gap.item() == pytest.approx(sum(full.loss_parts[t].item() for t in group), rel=1e-5)
    assert gap.abs() > 0


def test_modality_margin_changes_only_the_margin_terms(tiny_bert):  # noqa: F811
    batch = affect_batch()
    full = hycon_model(tiny_bert).eval()(batch)
    no_margin = hycon_model(tiny_bert, margin=1.0).eval()(batch)  # "w/o modality margin"
    for name in full.loss_parts:
        same = torch.isclose(full.loss_parts[name], no_margin.loss_parts[name])
        assert bool(same) == (name not in ("hycon_scl", "hycon_iemcl_refine")), name


def test_padding_does_not_change_the_prediction(tiny_bert):  # noqa: F811
    model = hycon_model(tiny_bert).eval()
    with torch.no_grad():
        ref, out = model(affect_batch()), model(affect_batch(pad=4))
    assert torch.allclose(out.logits, ref.logits, atol=1e-5)


def test_save_load_gives_identical_outputs(tiny_bert, tmp_path: Path):  # noqa: F811
    model = hycon_model(tiny_bert).eval()
    model.save_pretrained(tmp_path / "m")
    loaded = AMessModel.from_pretrained(tmp_path / "m").eval()
    assert loaded.fusion.options == model.fusion.options
    with torch.no_grad():
        assert torch.equal(loaded(affect_batch()).logits, model(affect_batch()).logits)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "multi_label", "label_names": ["a", "b"]}, "is for task regression or single"),
        ({"fusion_options": {"heads": 3}}, "heads \\(3\\) must divide dim \\(50\\)"),
        ({"fusion_options": {"margin": "high"}}, "margin.*must be a float"),
    ],
)
def test_config_errors_name_the_option(changes, message):
    options = dict(label_names=["sentiment"], task="regression", fusion="hycon", use_ss=False)
    with pytest.raises(ValueError, match=message):
        AMessConfig(**(options | changes))


def test_cli_trains_evaluates_and_predicts_with_the_hycon_preset(tmp_path, capsys):
    """The issue's command on a tiny MMSA pickle (CMU-MOSI layout), shrunk by a config file."""
    folder = tmp_path / "MOSI"
    write_mmsa(folder / "aligned_50.pkl", {"train": 16, "dev": 8, "test": 8}, text_dim=8)
    options = {"encoder": tiny_encoder(), "max_text_len": 24, "batch_size": 8, "lr": 1e-3}
    small = {"dim": 10, "heads": 2, "layers": 1}
    (tmp_path / "tiny.yaml").write_text(
        yaml.safe_dump(options | {"progress": False, "model": {"fusion_options": small}})
    )
    run = tmp_path / "run"
    code, out, err = run_cli(
        capsys, "train", "mosi", "--data-dir", folder, "--allow-pickle", "--task", "regression",
        "--preset", "hycon", "--config", tmp_path / "tiny.yaml", "--epochs", 1, "--cpu",
        "--out", run,
    )  # fmt: skip
    assert code == 0, err
    assert "mae" in out and "acc7" in out
    saved = json.loads((run / "seed-0" / "best" / "config.json").read_text())
    assert saved["fusion"] == "hycon" and saved["losses"] == HYCON_LOSSES
    history = json.loads((run / "seed-0" / "metrics.json").read_text())["history"]
    assert {"mae", *HYCON_LOSSES} <= set(history[0])  # every term was trained and logged
    code, out, err = run_cli(capsys, "evaluate", run, "--json")
    assert code == 0, err
    assert {"mae", "corr", "acc2_has0", "acc7"} <= set(json.loads(out))
    np.save(tmp_path / "v.npy", np.full((5, 20), 0.5, dtype=np.float32))
    np.save(tmp_path / "a.npy", np.full((7, 5), 0.5, dtype=np.float32))
    code, out, err = run_cli(
        capsys, "predict", run, "--text", "so good", "--video", tmp_path / "v.npy",
        "--audio", tmp_path / "a.npy",
    )  # fmt: skip
    assert code == 0, err
    assert "sentiment: " in out
    code, _, err = run_cli(capsys, "predict", run, "--text", "so good")  # no video/audio
    assert code == 1 and "predicts from all of them: give --audio and --video" in err, err


def test_the_preset_is_hycon_v2_and_its_ablation_sweep_resolves(tmp_path):
    config = TrainConfig.resolve(None, preset="hycon", dataset="mosi")
    model = config.model
    assert (model.task, model.fusion, model.regression_loss) == ("regression", "hycon", "mae")
    assert fusion_options(model) == HyconOptions()  # the preset restates the paper's defaults
    assert model.fusion_options == dataclasses.asdict(HyconOptions())
    assert model.losses == HYCON_LOSSES and config.learning_rate == 2e-5
    sweep = Sweep.from_yaml(REPO / "examples" / "sweeps" / "hycon_ablation.yaml", out=tmp_path)
    runs = {r.config_name: r.config.model for r in sweep.runs() if r.seed == 0}
    assert len(runs) == 10 and runs["hycon-v2"] == model
    v1 = HyconOptions(select_positives=False, select_negatives=False)
    assert fusion_options(runs["hycon"]) == v1 and runs["hycon"].losses == HYCON_LOSSES
    assert fusion_options(runs["wo-margin"]) == dataclasses.replace(v1, margin=1.0)
    off = {
        "wo-contrast": set(HYCON_LOSSES),
        "wo-refinement": {"hycon_iamcl_refine", "hycon_iemcl_refine"},
        "wo-iamcl": {"hycon_iamcl", "hycon_iamcl_refine"},
        "wo-iemcl": {"hycon_iemcl", "hycon_iemcl_refine"},
        "wo-scl": {"hycon_scl"},
    }
    for name, terms in off.items():
        assert fusion_options(runs[name]) == v1, name
        assert runs[name].losses == HYCON_LOSSES | dict.fromkeys(terms, 0.0), name
    assert not fusion_options(runs["v2-wo-positive-selection"]).select_positives
    assert fusion_options(runs["v2-wo-negative-selection"]).select_positives
