"""Published numbers beside ours: the data file, its reader, and the baseline sweeps end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_training_helpers import av_mintrec, run_cli, single_thread, tiny_encoder  # noqa: F401

from labelsync.errors import ConfigError
from labelsync.training.published import method_of, published_for, read_published
from labelsync.training.sweep import Sweep

SWEEPS = Path(__file__).parents[1] / "examples" / "sweeps"


def test_the_shipped_file_holds_the_papers_numbers_with_their_source():
    results = read_published()
    acc = {
        r.method: r.value
        for r in results
        if (r.dataset, r.protocol, r.metric) == ("mintrec", "in-scope", "accuracy")
    }
    assert {k: acc[k] for k in ("text", "mag-bert", "mult", "a-mess")} == {
        "text": 70.88,
        "mag-bert": 72.65,
        "mult": 72.52,
        "a-mess": 74.12,
    }
    assert all(r.source for r in results)
    oos = published_for(results, "mintrec2", "in-scope+oos", "a-mess")
    assert {m: r.value for m, r in oos.items()} == {
        "accuracy": 56.81,
        "f1_is": 49.03,
        "f1_oos": 63.42,
        "macro_f1": 49.31,
    }
    assert oos["accuracy"].source == "A-MESS (seed 003), Table II"
    assert published_for(results, "mintrec2", "in-scope", "text") == {}  # not printed there


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dataset,method,value\n", "header must be dataset,protocol,method,metric,value,source"),
        ("# c\n" + ",".join(("dataset", "protocol", "method", "metric", "value", "source")) + "\n"
         "mintrec,in-scope,text,accuracy,high,x\n", "t.csv:3: value must be a number, got 'high'"),
        ("dataset,protocol,method,metric,value,source\nmintrec,open,text,accuracy,1,x\n",
         "t.csv:2: protocol must be one of in-scope, in-scope+oos, got 'open'"),
        ("dataset,protocol,method,metric,value,source\nmintrec,in-scope,text,accuracy,1\n",
         "t.csv:2: expected 6 fields, got 5"),
        ("dataset,protocol,method,metric,value,source\nmintrec,in-scope,text,accuracy,70,\n",
         "t.csv:2: dataset, method, metric and source must not be empty"),
    ],
)  # fmt: skip
def test_a_bad_row_is_one_line_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_published(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_config_meets_its_method_by_name_without_the_grid_suffix():
    assert method_of("mag-bert") == "mag-bert"
    assert method_of("mag-bert+oos_mode=class") == "mag-bert"
    assert method_of("a-mess+lemer") == "a-mess+lemer"  # a preset name, not a grid point
    assert method_of("a-mess+lemer+k=4,tau=0.5") == "a-mess+lemer"
    runs = Sweep.from_yaml(SWEEPS / "mintrec2_baselines.yaml", out="unused", seeds=[0]).runs()
    protocols = {run.config_name: run.config.oos_mode for run in runs}
    assert protocols["mult"] == "drop" and protocols["mult+oos_mode=class"] == "class"
    assert {run.config.preset for run in runs} == {"text", "mag-bert", "mult", "a-mess"}


def test_the_mintrec_baseline_sweep_prints_the_published_column(capsys, tmp_path):
    """The issue's smoke command on a synthetic MIntRec with features and the tiny encoder
    (MulT made small so that the run stays fast)."""
    code, out, err = run_cli(
        capsys,
        "sweep", SWEEPS / "mintrec_baselines.yaml", "--data-dir", av_mintrec(), "--seeds", "0",
        "--set", "epochs=1", "--set", f"encoder={tiny_encoder()}", "--set", "cpu=true",
        "--set", "mult_layers=2", "--set", "mult_dim=32", "--out", tmp_path / "sweep",
    )  # fmt: skip
    assert code == 0, err
    table = [line for line in out.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[:6] == [
        "config",
        "seeds",
        "encoder",
        "features",
        "test accuracy",
        "published accuracy",
    ]
    rows = {}
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    assert set(rows) == {"text", "mag-bert", "mult", "a-mess"}
    published = {"text": "70.88", "mag-bert": "72.65", "mult": "72.52", "a-mess": "74.12"}
    for name, row in rows.items():
        assert row["seeds"] == "1/1" and row["published accuracy"] == published[name]
        features = "video 8-d + audio 6-d"
        assert row["encoder"] == tiny_encoder()
        assert row["features"] == (f"text only ({features} unused)" if name == "text" else features)
        assert "±" in row["test accuracy"]
    assert rows["text"]["published in"].startswith("MIntRec (Zhang et al., ACM MM 2022)")
    assert rows["a-mess"]["published macro_f1"] == "70.49"
    csv = (tmp_path / "sweep" / "summary.csv").read_text().splitlines()
    assert "published_test_accuracy" in csv[0] and "published_source" in csv[0]
