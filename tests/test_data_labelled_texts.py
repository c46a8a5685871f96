"""read_labelled_texts: text + label rows of CSV/TSV/JSONL files for the label store."""

from __future__ import annotations

import json

import pytest

from labelsync.data import DEFAULT_OOS_LABELS, DataError, LabelledText, read_labelled_texts
from labelsync.errors import LabelsyncError


def test_csv_tsv_and_jsonl_give_the_same_rows(tmp_path):
    rows = [("book a flight to Rome", "book_flight"), ("tell me a joke", "oos"), ("hi", "UNK")]
    (tmp_path / "a.csv").write_text(
        "id,text,label\n" + "".join(f'{i},"{t}",{lab}\n' for i, (t, lab) in enumerate(rows))
    )
    (tmp_path / "a.tsv").write_text(
        "Utterance\tIntent\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows)
    )
    (tmp_path / "a.jsonl").write_text(
        "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows)
    )
    expected = [
        LabelledText("book a flight to Rome", "book_flight", False),
        LabelledText("tell me a joke", "oos", True),
        LabelledText("hi", "UNK", True),
    ]
    for name in ("a.csv", "a.tsv", "a.jsonl"):
        assert read_labelled_texts(tmp_path / name) == expected
    assert {"oos", "unk", "out of scope"} == set(DEFAULT_OOS_LABELS)


def test_out_of_scope_names_are_matched_loosely_and_can_be_replaced(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("text\tlabel\nwhat now\tOut_of-Scope\nfine\tnone\n")
    assert [r.is_oos for r in read_labelled_texts(path)] == [True, False]
    assert [r.is_oos for r in read_labelled_texts(path, oos_labels=["None"])] == [False, True]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.csv", "text,label\nhello,greet\n,greet\n", "x.csv: line 3: field 'text' is empty"),
        ("x.tsv", "text\tlabel\nhello\t \n", "x.tsv: line 2: field 'label' is empty"),
        ("x.csv", "sentence,category\nhi,a\n", "x.csv: line 1: missing column 'label'"),
        (
            "x.jsonl",
            '{"text": "hi", "label": "a"}\n{"text": "yo"}\n',
            "x.jsonl: line 2: missing field 'label'",
        ),
        (
            "x.jsonl",
            '{"text": "hi", "label": 3}\n',
            "x.jsonl: line 1: field 'label' is empty or not",
        ),
        ("x.csv", "text,label\n", "x.csv: no rows"),
        ("x.txt", "text,label\nhi,a\n", "x.txt: unsupported data file"),
    ],
)
def test_bad_files_are_one_line_errors_naming_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError) as info:
        read_labelled_texts(path)
    assert isinstance(info.value, LabelsyncError) and "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path / message.split(":")[0]))
    assert message.split(": ", 1)[1] in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_labelled_texts(tmp_path / "none.csv")
