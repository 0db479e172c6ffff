"""`partnerstream attribute` end to end on small CSV and Parquet files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from services.cli import main

HEADER = "event_id,type,ts,visitor_id,partner_id,revenue,order_id"
ROWS = [
    "i1,impression,2024-05-01T10:00:00Z,v1,aff-a,,",
    "c1,click,2024-05-01T11:00:00Z,v1,aff-b,,",
    "c2,click,1714568400000,v1,aff-c,,",  # 2024-05-01T13:00:00Z as epoch ms
    "p1,conversion,2024-05-01T14:00:00Z,v1,,10000,o1",
    "c3,click,2024-05-02T09:00:00+02:00,v2,aff-a,,",
    "p2,conversion,2024-05-02T10:00:00,v2,,500,o2",  # naive: UTC
    "c4,click,2024-05-03T00:00:00Z,v3,aff-b,,",  # leads nowhere
    "r1,reversal,2024-05-05T00:00:00Z,v1,,2500,o1",
]


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def read(path: Path) -> list[dict[str, object]]:
    table = pacsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)
    return table.to_pylist()  # type: ignore[no-any-return]


def run(events: Path, out: Path, *models: str, extra: tuple[str, ...] = ()) -> int:
    argv = ["attribute", "--events", str(events), "--out", str(out), *extra]
    for model in models:
        argv += ["--model", model]
    return main(argv)


def summary(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (r["model"], r["conversion_id"], r["partner_id"], r["role"], r["credited_revenue"])
        for r in rows
    ]


EXPECTED = [
    ("linear", "p1", "aff-a", "introducer", 3334),
    ("linear", "p1", "aff-b", "influencer", 3333),
    ("linear", "p1", "aff-c", "closer", 3333),
    ("linear", "p2", "aff-a", "sole", 500),
    ("last_touch", "p1", "aff-c", "closer", 10000),
    ("last_touch", "p2", "aff-a", "sole", 500),
    # the reversal of 2500 on order o1, split over what each row holds
    ("linear", "p1", "aff-a", "introducer", -834),
    ("linear", "p1", "aff-b", "influencer", -833),
    ("linear", "p1", "aff-c", "closer", -833),
    ("last_touch", "p1", "aff-c", "closer", -2500),
]


def test_csv_in_csv_out(tmp_path: Path) -> None:
    events = write_csv(tmp_path / "events.csv", ROWS)
    out = tmp_path / "credits.csv"
    assert run(events, out, "linear", "last_touch") == 0
    rows = read(out)
    assert sorted(summary(rows)) == sorted(EXPECTED)
    assert set(rows[0]) == {
        "conversion_id",
        "partner_id",
        "role",
        "model",
        "weight",
        "credited_revenue",
    }


def test_parquet_in_parquet_out(tmp_path: Path) -> None:
    table = pacsv.read_csv(
        write_csv(tmp_path / "events.csv", ROWS),
        convert_options=pacsv.ConvertOptions(column_types={"ts": pa.string()}),
    )
    events = tmp_path / "events.parquet"
    pq.write_table(table, events)
    out = tmp_path / "credits.pq"
    assert run(events, out, "linear", "last_touch") == 0
    assert sorted(summary(read(out))) == sorted(EXPECTED)


def test_parquet_with_native_timestamps(tmp_path: Path) -> None:
    ts = pa.array([1714557600000, 1714572000000], pa.timestamp("ms", tz="UTC"))
    table = pa.table(
        {
            "event_id": ["c1", "p1"],
            "type": ["click", "conversion"],
            "ts": ts,
            "visitor_id": ["v1", "v1"],
            "partner_id": ["aff-a", None],
            "revenue": pa.array([None, 700], pa.int64()),
            "order_id": [None, "o1"],
        }
    )
    events = tmp_path / "events.parquet"
    pq.write_table(table, events)
    out = tmp_path / "credits.csv"
    assert run(events, out, "first_touch") == 0
    assert summary(read(out)) == [("first_touch", "p1", "aff-a", "sole", 700)]


@pytest.mark.parametrize("model", ["markov", "shapley"])
def test_population_models_split_each_conversion_exactly(tmp_path: Path, model: str) -> None:
    events = write_csv(tmp_path / "events.csv", ROWS)
    out = tmp_path / "credits.csv"
    assert run(events, out, model) == 0
    rows = read(out)
    assert {r["model"] for r in rows} == {model}
    by_conversion: dict[object, int] = {}
    weights: dict[object, float] = {}
    for r in rows:
        amount = r["credited_revenue"]
        assert isinstance(amount, int)
        by_conversion[r["conversion_id"]] = by_conversion.get(r["conversion_id"], 0) + amount
        if amount > 0:
            weight = r["weight"]
            assert isinstance(weight, float)
            weights[r["conversion_id"]] = weights.get(r["conversion_id"], 0.0) + weight
    assert by_conversion == {"p1": 10000 - 2500, "p2": 500}
    assert weights == pytest.approx({"p1": 1.0, "p2": 1.0})


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = write_csv(tmp_path / "events.csv", ROWS)
    assert run(events, tmp_path / "o.csv", "linear", extra=("--progress", "always")) == 0
    captured = capsys.readouterr()
    assert "8/8" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("event_id,type,visitor_id", ["a,click,v"], "missing column 'ts'"),
        (
            HEADER,
            ["c1,click,2024-05-01T10:00:00Z,v1,a,,", "c2,click,yesterday,v1,a,,"],
            "row 2, column 'ts'",
        ),
        (HEADER, ["c1,view,2024-05-01T10:00:00Z,v1,a,,"], "row 1, column 'type'"),
        (HEADER, ["c1,click,2024-05-01T10:00:00Z,v1,,,"], "row 1, column 'partner_id'"),
        (HEADER, ["p1,conversion,2024-05-01T10:00:00Z,v1,,-5,o1"], "row 1, column 'revenue'"),
        (HEADER, ["p1,conversion,2024-05-01T10:00:00Z,v1,,12.5,o1"], "not an integer"),
        (HEADER, ["p1,conversion,2024-05-01T10:00:00Z,,,1,o1"], "row 1, column 'visitor_id'"),
        (HEADER, [",click,2024-05-01T10:00:00Z,v1,a,,"], "row 1, column 'event_id'"),
        (HEADER, ["r1,reversal,2024-05-01T10:00:00Z,v1,,5,"], "row 1, column 'order_id'"),
        (HEADER, ["r1,reversal,2024-05-01T10:00:00Z,v1,,5,nope"], "no conversion has this order"),
    ],
)
def test_bad_input_names_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], header: str, rows: list[str], message: str
) -> None:
    events = write_csv(tmp_path / "events.csv", rows, header)
    out = tmp_path / "credits.csv"
    assert run(events, out, "linear") == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bad_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "absent.csv", tmp_path / "o.csv", "linear") == 2
    assert "no such file" in capsys.readouterr().err
    events = write_csv(tmp_path / "events.csv", ROWS)
    assert run(events, tmp_path / "o.json", "linear") == 2
    assert "unknown format" in capsys.readouterr().err


def test_unknown_model_is_refused_by_argparse(tmp_path: Path) -> None:
    events = write_csv(tmp_path / "events.csv", ROWS)
    with pytest.raises(SystemExit) as info:
        run(events, tmp_path / "o.csv", "magic")
    assert info.value.code == 2
