"""CARAT (seed 000) as the `carat` fusion + `carat_*` loss terms on the tiny BERT."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from affect_models import CARAT_LOSSES, LABELS, affect_batch, carat_model, text_only
from conftest import CLINC150, REPO, needs_clinc, run_cli
from test_model_modeling import tiny_bert  # noqa: F401
from test_training_helpers import single_thread, tiny_encoder  # noqa: F401

from labelsync.data.synthetic_tasks import write_mixclinc
from labelsync.model import AMessConfig, AMessModel
from labelsync.model.carat import shuffle_columns
from labelsync.model.carat_memory import CaratMemory, latent_classes, supervised_contrastive
from labelsync.model.fusion import fusion_options
from labelsync.model.method_options import CaratOptions
from labelsync.model.tasks import multi_hot
from labelsync.training import TrainConfig
from labelsync.training.sweep import Sweep


def _step(model, batch, seed: int = 3):
    torch.manual_seed(seed)  # the shuffles and dropout
    return model(batch)


def test_forward_gives_eq16_logits_and_every_term(tiny_bert):  # noqa: F811
    model = carat_model(tiny_bert).train()
    out = _step(model, affect_batch())
    r = out.aux["carat"]
    assert out.logits.shape == (6, 3) and r.u_o.shape == (6, 3, 3, 16)
    assert r.latent.shape == (6, 3, 3, 3, 8)  # [B, M (t, v, a), levels (o, alpha, beta), C, d_z]
    assert set(out.loss_parts) == set(CARAT_LOSSES)
    expected = sum(w * out.loss_parts[name] for name, w in CARAT_LOSSES.items())
    assert torch.allclose(out.loss, expected)
    p = 0.5 * (r.agg.sigmoid().mean(dim=1) + r.s_beta.sigmoid())  # eq. 16
    assert torch.allclose(out.logits.sigmoid(), p, atol=1e-5)
    assert model.classifier is None  # the fusion predicts; no classifier of the model's own


def test_every_parameter_gets_a_gradient(tiny_bert):  # noqa: F811
    parts = {"text", "attention", "classifiers", "aggregator", "encoders", "decoders"}
    for text in (False, True):
        model = carat_model(tiny_bert, text_only=text).train()
        batch = text_only(affect_batch()) if text else affect_batch()
        _step(model, batch).loss.backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
        assert missing == [], (text, missing)
        built = {n.split(".")[1] for n, _ in model.named_parameters() if n.startswith("fusion")}
        # text alone has no other modality to reconstruct from: no FRR/SRR (f^m)
        assert built == parts | (set() if text else {"reconstruct", "extractors"})


def test_with_text_alone_the_prediction_follows_the_input(tiny_bert):  # noqa: F811
    """Without other modalities the reconstruction levels would read only the intrinsic
    vectors, which do not depend on the sample: the prediction must come from the text."""
    model = carat_model(tiny_bert, text_only=True).eval()
    with torch.no_grad():
        first = model(text_only(affect_batch(seed=1))).logits
        second = model(text_only(affect_batch(seed=2))).logits
    assert not torch.allclose(first, second, atol=1e-4)
    assert model.fusion.levels == (False, False)


def test_queue_is_first_in_first_out():
    memory = CaratMemory(1, 1, 2, queue_size=5, momentum=0.9)
    rows = torch.arange(16, dtype=torch.float32).view(8, 2)
    memory.enqueue(rows[:3], torch.tensor([0, 1, 0]))
    queued, classes = memory.contents()
    assert torch.equal(queued, rows[:3]) and classes.tolist() == [0, 1, 0]
    memory.enqueue(rows[3:7], torch.arange(3, 7))  # wraps: slots 3, 4, 0, 1
    assert int(memory.queue_ptr) == 2
    assert torch.equal(memory.queue, torch.stack([rows[5], rows[6], rows[2], rows[3], rows[4]]))
    assert memory.queue_class.tolist() == [5, 6, 0, 3, 4]
    memory.enqueue(rows, torch.arange(8))  # more than fit: the newest 5, oldest first
    assert int(memory.queue_ptr) == 2
    order = [(int(memory.queue_ptr) + i) % 5 for i in range(5)]
    assert torch.equal(memory.queue[order], rows[3:])


def test_training_steps_feed_the_queue_and_evaluation_does_not(tiny_bert):  # noqa: F811
    model = carat_model(tiny_bert, queue_size=200).train()
    batch = affect_batch()
    out = _step(model, batch)
    memory = model.fusion.memory
    queued, classes = memory.contents()
    latent = out.aux["carat"].latent
    assert torch.allclose(queued, latent.flatten(0, 3).detach())  # this batch, in order
    targets = multi_hot(batch["label_ids"], 3)
    assert torch.equal(classes, latent_classes(targets, 3, 3).flatten())
    model.eval()
    before = memory.queue.clone(), memory.prototypes.clone()
    model(batch)
    assert torch.equal(memory.queue, before[0]) and torch.equal(memory.prototypes, before[1])


def test_momentum_prototypes_move_by_the_set_rate():
    memory = CaratMemory(1, 2, 2, queue_size=4, momentum=0.9)
    start = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [-1.0, 0.0]]])[None]
    memory.prototypes.copy_(start)
    e = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.8, -0.6]])
    memory.update_prototypes(e, torch.tensor([0, 0, 3]))  # class (m 0, label 0, neg) twice
    moved = torch.nn.functional.normalize(0.9 * start[0, 0, 0] + 0.1 * e[:2].mean(dim=0), dim=0)
    assert torch.allclose(memory.prototypes[0, 0, 0], moved)
    moved = torch.nn.functional.normalize(0.9 * start[0, 1, 1] + 0.1 * e[2], dim=0)
    assert torch.allclose(memory.prototypes[0, 1, 1], moved)
    assert torch.equal(memory.prototypes[0, 0, 1], start[0, 0, 1])  # unseen: unchanged
    assert torch.equal(memory.prototypes[0, 1, 0], start[0, 1, 0])
    fresh = CaratMemory(1, 1, 2, queue_size=4, momentum=0.99)  # zeros: the first mean, unit
    fresh.update_prototypes(torch.tensor([[3.0, 4.0]]), torch.tensor([1]))
    assert torch.allclose(fresh.prototypes[0, 0, 1], torch.tensor([0.6, 0.8]))


def test_intrinsic_vectors_soft_while_training_hard_at_prediction():
    memory = CaratMemory(1, 1, 2, queue_size=4, momentum=0.9)
    memory.prototypes.copy_(torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]]))  # neg, pos
    e = torch.nn.functional.normalize(torch.tensor([[[[0.3, 1.0]]]]), dim=-1)  # [B, M, C, d]
    a = torch.softmax(torch.tensor([e[0, 0, 0, 0], e[0, 0, 0, 1]]), dim=0)  # eq. 9
    assert torch.allclose(memory.intrinsic(e, hard=False)[0, 0, 0], a)
    assert torch.equal(memory.intrinsic(e, hard=True)[0, 0, 0], torch.tensor([0.0, 1.0]))


def test_supervised_contrastive_matches_the_formula():
    anchors = torch.nn.functional.normalize(
        torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), dim=1
    )
    queued = torch.nn.functional.normalize(torch.ones(1, 3), dim=1)
    classes = torch.tensor([0, 1, 0, 2])
    pool, pool_class = torch.cat([anchors, queued]), torch.cat([classes, torch.tensor([1])])
    got = supervised_contrastive(anchors, classes, pool, pool_class, temperature=0.5)
    for i in range(4):
        others = [k for k in range(5) if k != i]
        denominator = sum(math.exp(float(anchors[i] @ pool[k]) / 0.5) for k in others)
        positives = [k for k in others if pool_class[k] == classes[i]]
        if not positives:
            assert math.isnan(got[i])  # class 2 has no positive
            continue
        want = -sum(float(anchors[i] @ pool[k]) / 0.5 - math.log(denominator) for k in positives)
        assert got[i].item() == pytest.approx(want / len(positives), rel=1e-5)


@pytest.mark.parametrize(("sample", "modality"), [(True, True), (True, False), (False, True)])
def test_shuffle_keeps_label_multisets(sample, modality):
    torch.manual_seed(0)
    b, m, c = 5, 3, 4
    targets = (torch.rand(b, c) > 0.5).float()
    index = torch.arange(b * m * c, dtype=torch.float32).view(b, m, c, 1)  # identifies a vector
    mixed, source = shuffle_columns(index, sample, modality)
    flat = mixed[..., 0].long()
    origin_sample, origin_label = flat // (m * c), flat % c
    assert torch.equal(origin_sample, source)  # `source` says where every vector came from
    assert torch.equal(origin_label, torch.arange(c).expand(b, m, c))  # labels keep their column
    assert sorted(flat.flatten().tolist()) == list(range(b * m * c))  # a permutation
    shuffled_targets = targets[source, torch.arange(c).expand(b, m, c)]
    for j in range(c):  # per label: the multiset of targets over (sample, modality) is kept
        assert sorted(shuffled_targets[..., j].flatten().tolist()) == sorted(
            targets[:, j].repeat(m).tolist()
        )
    if not sample:
        assert torch.equal(source, torch.arange(b)[:, None, None].expand(b, m, c))
    if not modality:  # only samples move: a modality slot keeps its modality
        assert torch.equal(flat // c % m, torch.arange(m)[None, :, None].expand(b, m, c))


@pytest.mark.parametrize("term", [t for t in CARAT_LOSSES if t != "bce"])
def test_each_loss_weight_removes_exactly_its_term(tiny_bert, term):  # noqa: F811
    batch = affect_batch()
    full = _step(carat_model(tiny_bert).train(), batch)
    without = _step(carat_model(tiny_bert, losses=CARAT_LOSSES | {term: 0.0}).train(), batch)
    assert torch.allclose(without.logits, full.logits)
    gap = full.loss - without.loss
    assert gap.item() == pytest.approx(CARAT_LOSSES[term] * full.loss_parts[term].item(), rel=1e-4)
    assert gap.abs() > 0


def test_part_switches_remove_exactly_their_part(tiny_bert):  # noqa: F811
    batch = affect_batch()

    def parts(model):
        return {n.split(".")[1] for n, _ in model.named_parameters() if n.startswith("fusion")}

    full = parts(carat_model(tiny_bert))
    model = carat_model(tiny_bert, encode_decode=False).train()  # Table 3 (5)
    out = _step(model, batch)
    assert parts(model) == full - {"encoders", "decoders"} and model.fusion.memory is None
    assert out.aux["carat"].latent is None and out.loss_parts["carat_scl"] == 0
    model = carat_model(tiny_bert, first_level=False).train()  # (7) w/o alpha-recon
    r = _step(model, batch).aux["carat"]
    assert r.u_alpha is None and r.s_alpha is None and r.s_beta is not None
    assert r.latent.shape[2] == 2
    model = carat_model(tiny_bert, second_level=False).train()  # (8) w/o beta-recon
    out = _step(model, batch)
    assert out.aux["carat"].s_beta is None and out.loss_parts["carat_lsr_beta"] == 0
    model = carat_model(tiny_bert, first_level=False, second_level=False).train()  # (9)
    assert parts(model) == full - {"reconstruct"}
    for sample, modality in [(False, True), (True, False)]:  # (10), (11)
        r = _step(
            carat_model(tiny_bert, sample_shuffle=sample, modality_shuffle=modality).train(), batch
        ).aux["carat"]
        assert r.agg_shuffled is not None
    model = carat_model(tiny_bert, sample_shuffle=False, modality_shuffle=False).train()  # (12)
    out = _step(model, batch)
    assert out.aux["carat"].agg_shuffled is None and out.loss_parts["carat_agg_shuffled"] == 0
    ref = _step(carat_model(tiny_bert).eval(), batch)
    r = ref.aux["carat"]
    for predict, p in [("mrm", r.s_beta.sigmoid()), ("agg", r.agg.sigmoid().mean(dim=1))]:
        out = _step(carat_model(tiny_bert, predict=predict).eval(), batch)
        assert torch.allclose(out.logits.sigmoid(), p, atol=1e-5)


def test_padding_does_not_change_the_prediction(tiny_bert):  # noqa: F811
    model = carat_model(tiny_bert).train()
    _step(model, affect_batch(seed=5))  # prototypes away from zero
    model.eval()
    with torch.no_grad():
        ref = model(affect_batch())
        out = model(affect_batch(pad=4))
    assert torch.allclose(out.logits, ref.logits, atol=1e-5)


def test_save_load_gives_identical_outputs_and_memory(tiny_bert, tmp_path: Path):  # noqa: F811
    model = carat_model(tiny_bert).train()
    _step(model, affect_batch(seed=5)).loss.backward()
    model.eval()
    model.save_pretrained(tmp_path / "m")
    loaded = AMessModel.from_pretrained(tmp_path / "m").eval()
    for name in ("queue", "queue_class", "queue_ptr", "prototypes"):
        assert torch.equal(getattr(loaded.fusion.memory, name), getattr(model.fusion.memory, name))
    with torch.no_grad():
        assert torch.equal(loaded(affect_batch()).logits, model(affect_batch()).logits)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "single_label"}, "fusion carat is for task multi_label"),
        ({"use_ss": True}, "predicts with its own heads"),
        ({"fusion_options": {"hiden": 8}}, "unknown fusion_options key 'hiden'.*'hidden'"),
        ({"fusion_options": {"queue_size": "big"}}, "queue_size.*must be a int"),
        ({"losses": {"carat_agg": 1.0}}, "needs the carat_scl loss term"),
        ({"fusion": "a-me", "fusion_options": {"hidden": 8}}, "a-me' takes no fusion_options"),
    ],
)
def test_config_errors_name_the_option(changes, message):
    options = dict(label_names=LABELS, task="multi_label", fusion="carat", use_ss=False)
    options["losses"] = CARAT_LOSSES
    with pytest.raises(ValueError, match=message):
        AMessConfig(**(options | changes))


def test_a_sample_without_frames_gives_finite_outputs(tiny_bert):  # noqa: F811
    model = carat_model(tiny_bert).train()
    batch = affect_batch()
    batch["video_mask"][2] = False  # no video for sample 2
    out = _step(model, batch)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss)


@needs_clinc
def test_cli_trains_evaluates_and_predicts_with_the_carat_preset(tmp_path, capsys):
    """The issue's command on MixCLINC (text only: M = 1), shrunk by a config file."""
    labels = ["book_flight", "weather", "alarm", "play_music"]
    data = write_mixclinc(
        CLINC150, tmp_path / "mixclinc", labels, {"train": 16, "dev": 8, "test": 8}
    )
    small = {"hidden": 16, "latent": 8, "heads": 2, "queue_size": 128}
    options = {"encoder": tiny_encoder(), "max_text_len": 24, "batch_size": 8, "lr": 1e-3}
    (tmp_path / "tiny.yaml").write_text(
        yaml.safe_dump(options | {"progress": False, "model": {"fusion_options": small}})
    )
    run = tmp_path / "run"
    code, out, err = run_cli(
        capsys, "train", data, "--task", "multi_label", "--preset", "carat",
        "--config", tmp_path / "tiny.yaml", "--epochs", 1, "--cpu", "--out", run,
    )  # fmt: skip
    assert code == 0, err
    assert "micro_f1" in out and "hamming_loss" in out
    saved = json.loads((run / "seed-0" / "best" / "config.json").read_text())
    assert saved["fusion"] == "carat" and saved["losses"]["carat_scl"] == 1.0
    assert saved["fusion_options"] == small and len(saved["thresholds"]) == 4
    loaded = AMessModel.from_pretrained(run / "seed-0" / "best")
    # the queue came along (text alone: the U_o embeddings only, no reconstruction levels)
    assert int((loaded.fusion.memory.queue_class >= 0).sum()) == 64
    code, out, err = run_cli(capsys, "evaluate", run, "--json")
    assert code == 0, err
    assert {"micro_f1", "accuracy", "hamming_loss"} <= set(json.loads(out))
    code, out, err = run_cli(capsys, "predict", run, "--text", "set an alarm", "--json")
    assert code == 0, err
    assert set(json.loads(out)["labels"]) <= set(labels)


def test_the_preset_is_the_paper_and_its_ablation_sweep_resolves(tmp_path):
    config = TrainConfig.resolve(None, preset="carat", dataset="mosei")
    model = config.model
    assert (model.task, model.fusion, model.use_ss, model.use_label_attention) == (
        "multi_label",
        "carat",
        False,
        False,
    )
    assert fusion_options(model) == CaratOptions()  # the preset restates the paper's defaults
    assert model.fusion_options == dataclasses.asdict(CaratOptions())
    assert model.losses == CARAT_LOSSES  # Table 4, ID 0
    assert (config.learning_rate, config.batch_size, config.epochs) == (5e-5, 64, 20)
    assert config.metric == "micro_f1"
    sweep = Sweep.from_yaml(REPO / "examples" / "sweeps" / "carat_ablation.yaml", out=tmp_path)
    runs = {r.config_name: r.config.model for r in sweep.runs() if r.seed == 0}
    assert len(runs) == 13 and len(sweep.seeds) == 5
    assert runs["carat"] == model
    assert runs["wo-scl"].losses == CARAT_LOSSES | {"carat_scl": 0.0}
    assert runs["wo-rec"].losses == CARAT_LOSSES | {"carat_rec": 0.0}
    for name, switch in [
        ("wo-en-de", {"encode_decode": False}),
        ("wo-alpha-recon", {"first_level": False}),
        ("wo-beta-recon", {"second_level": False}),
        ("wo-sw-shuffle", {"sample_shuffle": False}),
        ("wo-mw-shuffle", {"modality_shuffle": False}),
    ]:
        assert fusion_options(runs[name]) == dataclasses.replace(CaratOptions(), **switch), name
        assert runs[name].losses == CARAT_LOSSES, name
    assert fusion_options(runs["only-mrm"]).predict == "mrm"
