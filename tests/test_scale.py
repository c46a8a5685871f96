"""Scale-out: 2-process CPU runs through the real launchers, world-size checks, sweeps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_training_helpers import single_thread, tiny_encoder, tiny_options  # noqa: F401

from labelsync.cli.launch import requested_cpu_processes
from labelsync.data.synthetic import write_mintrec
from labelsync.training import RunError, TrainConfig, Trainer
from labelsync.training.sweep import Sweep, SweepError

# odd split sizes: with 2 processes the last batch is padded, and gather_for_metrics must drop it
SIZES = {"train": 24, "dev": 11, "test": 13}


def accelerate_launch(*args: str, processes: int = 2, timeout: int = 400):
    """``accelerate launch --cpu --num_processes N -m labelsync ARGS`` in a subprocess."""
    exe = Path(sys.executable).with_name("accelerate")
    launcher = [str(exe)] if exe.exists() else [sys.executable, "-m", "accelerate.commands.launch"]
    command = [*launcher, "launch"] if exe.exists() else launcher
    command += ["--cpu", "--num_processes", str(processes), "--num_machines", "1"]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "labelsync", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def train_args(data: Path, out: Path, batch_size: int) -> list[str]:
    return [
        "train", "mintrec", "--data-dir", str(data), "--seeds", "0", "--epochs", "2",
        "--out", str(out), "--reviewed-descriptions", "--encoder", str(data / "encoder"),
        "--batch-size", str(batch_size), "--lr", "1e-3", "--config", str(data / "opts.yaml"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = write_mintrec(tmp_path_factory.mktemp("ddp") / "mintrec", SIZES, seed=7)
    # dropout off (encoder and head) and no warmup: then 2 x 4 samples and 1 x 8 give the same
    # mean gradients and learning rates (accelerate steps the scheduler once per process)
    settings = AutoConfig.from_pretrained(tiny_encoder())
    settings.hidden_dropout_prob = settings.attention_probs_dropout_prob = 0.0
    AutoModel.from_pretrained(tiny_encoder(), config=settings).save_pretrained(folder / "encoder")
    AutoTokenizer.from_pretrained(tiny_encoder()).save_pretrained(folder / "encoder")
    (folder / "opts.yaml").write_text(
        "dropout: 0.0\nwarmup_ratio: 0.0\nmax_text_len: 32\nk: 3\ncpu: true\n"
        "model_options: {ame_num_heads: 2}\n"
    )
    return folder


def test_accelerate_cpu_launch_trains_two_processes_and_counts_every_sample_once(data, tmp_path):
    two = tmp_path / "two"
    done = accelerate_launch(*train_args(data, two, batch_size=4))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "running 2 processes through torchrun" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]  # one run dir, nothing else
    info = json.loads((two / "run.json").read_text())
    assert info["num_processes"] == 2 and info["finished"] is True
    metrics = json.loads((two / "seed-0/metrics.json").read_text())
    assert metrics["samples"] == {"dev": SIZES["dev"], "test": SIZES["test"]}
    assert metrics["num_processes"] == 2
    assert (two / "train.log").read_text().count("starting run") == 1  # rank 0 logs only
    assert done.stdout.count("run saved to") == 1  # one summary table, not one per process

    # the same run in one process with the same global batch: same numbers up to float noise
    one = tmp_path / "one"
    single = subprocess.run(
        [sys.executable, "-m", "labelsync", *train_args(data, one, batch_size=8)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    reference = json.loads((one / "seed-0/metrics.json").read_text())
    assert reference["samples"] == metrics["samples"] and reference["num_processes"] == 1
    for ours, theirs in zip(metrics["history"], reference["history"], strict=True):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], abs=1e-3)
        assert ours["dev_loss"] == pytest.approx(theirs["dev_loss"], abs=1e-3)
    assert metrics["test_loss"] == pytest.approx(reference["test_loss"], abs=1e-3)
    assert metrics["test"]["accuracy"] == pytest.approx(reference["test"]["accuracy"], abs=1e-9)

    # evaluating one checkpoint with 2 processes gives exactly the 1-process metrics
    evaluated = accelerate_launch("evaluate", str(one), "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads(evaluated.stdout) == pytest.approx(reference["test"], abs=1e-9)


def test_more_processes_than_samples_is_one_line(tmp_path):
    folder = write_mintrec(tmp_path / "mintrec", {"train": 8, "dev": 1, "test": 4}, seed=1)
    done = accelerate_launch(
        "train", "mintrec", "--data-dir", str(folder), "--epochs", "1", "--out",
        str(tmp_path / "run"), "--reviewed-descriptions", "--encoder", tiny_encoder(),
    )  # fmt: skip
    assert done.returncode == 1
    assert "the dev split of mintrec has 1 sample(s), fewer than the 2 processes" in done.stderr
    assert not (tmp_path / "run" / "run.json").exists()


class Stop(Exception):
    pass


def test_resume_with_another_world_size_is_refused(tmp_path):
    from test_training_helpers import text_mintrec

    config = TrainConfig(**tiny_options(data_dir=str(text_mintrec()), epochs=2))

    def stop(result):
        raise Stop

    with pytest.raises(Stop):
        Trainer(config, tmp_path / "run", callbacks=[stop]).train()
    info_path = tmp_path / "run" / "run.json"
    assert json.loads(info_path.read_text())["num_processes"] == 1
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "num_processes": 2}))  # as a 2-process launch writes
    with pytest.raises(RunError, match="trained with 2 process\\(es\\) but this resume has 1"):
        Trainer.resume(tmp_path / "run")


def test_accelerate_launch_command_lines_are_parsed():
    assert (
        requested_cpu_processes(["/v/bin/accelerate", "launch", "--cpu", "--num_processes", "4"])
        == 4
    )
    assert (
        requested_cpu_processes(["python", "-m", "accelerate.commands.launch", "--num_processes=3"])
        == 3
    )
    assert requested_cpu_processes(["/v/bin/accelerate", "launch", "--cpu", "x.py"]) == 1
    assert requested_cpu_processes(["python", "train.py", "--num_processes", "4"]) == 1


# --- sweeps -----------------------------------------------------------------------------------


def write_sweep(path: Path, data_dir: Path, **base) -> Path:
    spec = {
        "seeds": [0, 1],
        "base": {**tiny_options(data_dir=str(data_dir), epochs=1), **base},
        "configs": [{"name": "full"}, {"name": "wo-ss", "use_ss": False}],
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def test_sweep_two_configs_two_seeds_resumes_after_a_run_is_deleted(tmp_path):
    from test_training_helpers import text_mintrec

    file = write_sweep(tmp_path / "sweep.yaml", text_mintrec())
    sweep = Sweep.from_yaml(file, out=tmp_path / "out")
    outcomes: list[tuple[str, str]] = []
    first = sweep.run(on_done=lambda run, what: outcomes.append((run.key, what)))
    assert outcomes == [
        ("full-seed0", "trained"), ("full-seed1", "trained"),
        ("wo-ss-seed0", "trained"), ("wo-ss-seed1", "trained"),
    ]  # fmt: skip
    rows = {row["config"]: row for row in first["configs"]}
    assert rows["full"]["seeds_done"] == [0, 1] and rows["wo-ss"]["seeds_done"] == [0, 1]
    values = rows["full"]["test"]["accuracy"]["values"]
    assert rows["full"]["test"]["accuracy"]["mean"] == pytest.approx(sum(values) / 2, abs=1e-6)
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"summary.md", "summary.csv", "summary.json"}
    assert "| full | 2/2 |" in (out / "summary.md").read_text()
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("config,overrides")

    shutil.rmtree(out / "runs" / "wo-ss-seed1")
    outcomes.clear()
    again = Sweep.from_yaml(file, out=out).run(
        on_done=lambda run, what: outcomes.append((run.key, what))
    )
    assert [what for _, what in outcomes] == ["skipped", "skipped", "skipped", "trained"]
    assert again["configs"] == first["configs"]  # the retrained seed lands on the same numbers

    # a changed option is a conflict with the finished runs, named before anything trains
    changed = write_sweep(tmp_path / "changed.yaml", text_mintrec(), learning_rate=5e-4)
    with pytest.raises(SweepError, match="full-seed0 was trained with learning_rate=0.001"):
        Sweep.from_yaml(changed, out=out).run()


def test_sweep_file_errors_are_one_line(tmp_path):
    cases = {
        "seeds: [0]\nbase: {dataset: mintrec}\nconfgs: []\n": "unknown key 'confgs'",
        "out: o\nbase: {dataset: mintrec}\nconfigs: [{name: a, use_amee: false}]\n": (
            "config 'a': unknown training option 'use_amee' \\(did you mean 'use_ame'"
        ),
        "out: o\nbase: {dataset: mintrec}\ngrid: {k: 4}\n": "grid.k must be a non-empty list",
        "out: o\nbase: {dataset: mintrec}\nconfigs: [{name: a}, {name: a}]\n": "'a' is used twice",
        "out: o\nseeds: [1, 1]\nbase: {dataset: mintrec}\n": "seeds repeat",
        "base: {dataset: mintrec}\n": "no output folder",
        "out: o\nbase: [dataset, mintrec]\n": "base must be a mapping",
        "out: o\nbase: [\n": "invalid YAML at line",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(text)
        with pytest.raises(SweepError, match=message) as caught:
            Sweep.from_yaml(path)
        assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_grid_expands_every_combination_with_readable_names(tmp_path):
    sweep = Sweep.from_dict(
        {"base": {"dataset": "mintrec"}, "grid": {"learning_rate": [1e-5, 2e-5], "k": [4, 8]}},
        out=tmp_path,
        seeds=[0, 1, 2],
    )
    runs = sweep.runs()
    assert len(runs) == 12
    assert runs[0].key == "learning_rate=1e-05,k=4-seed0"
    assert {(r.config.learning_rate, r.config.model.k) for r in runs} == {
        (1e-5, 4), (1e-5, 8), (2e-5, 4), (2e-5, 8)
    }  # fmt: skip
    ablation = Sweep.from_yaml(
        Path(__file__).parents[1] / "examples/sweeps/ablation.yaml", out=tmp_path
    )
    assert [name for name, _ in ablation.variants] == ["a-mess", "wo-ame", "wo-ss", "wo-ss-and-ame"]


def test_runs_with_different_accelerate_settings_get_their_own_processes(tmp_path):
    from test_training_helpers import text_mintrec

    spec = {
        "seeds": [0],
        "base": tiny_options(data_dir=str(text_mintrec()), epochs=1),
        "configs": [{"name": "plain"}, {"name": "accum2", "gradient_accumulation_steps": 2}],
    }
    file = tmp_path / "sweep.yaml"
    file.write_text(yaml.safe_dump(spec))
    outcomes: list[tuple[str, str]] = []
    summary = Sweep.from_yaml(file, out=tmp_path / "out").run(
        on_done=lambda run, what: outcomes.append((run.key, what))
    )
    assert sorted(outcomes) == [("accum2-seed0", "trained"), ("plain-seed0", "trained")]
    logs = tmp_path / "out" / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["accum2-seed0.log", "plain-seed0.log"]
    assert [row["seeds_done"] for row in summary["configs"]] == [[0], [0]]
    saved = yaml.safe_load((tmp_path / "out/runs/accum2-seed0/config.yaml").read_text())
    assert saved["gradient_accumulation_steps"] == 2


def test_sweep_cli_dry_run_lists_runs_and_takes_set_overrides(capsys, tmp_path):
    from conftest import run_cli

    example = str(Path(__file__).parents[1] / "examples/sweeps/ablation.yaml")
    args = ["sweep", example, "--seeds", "0,1", "--out", str(tmp_path / "o"), "--dry-run"]
    code, out, _ = run_cli(capsys, *args, "--set", "epochs=2", "--set", "learning_rate=5e-5")
    assert code == 0
    assert out.count(": new -> ") == 8 and "wo-ss-and-ame-seed1: new" in out
    assert not (tmp_path / "o").exists()  # a dry run writes nothing
    sweep = Sweep.from_yaml(example, out=tmp_path / "o", epochs=2, learning_rate=5e-5)
    assert {(r.config.epochs, r.config.learning_rate) for r in sweep.runs()} == {(2, 5e-5)}
    code, _, err = run_cli(capsys, "sweep", example, "--out", str(tmp_path), "--set", "epochs")
    assert code == 2 and "expected KEY=VALUE" in err
    code, _, err = run_cli(capsys, "sweep", example, "--out", str(tmp_path), "--set", "epoch=2")
    assert code == 1 and "unknown training option 'epoch'" in err
