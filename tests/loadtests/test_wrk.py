from __future__ import annotations

import pytest

from loadtests import wrk

OUTPUT = """Running 1s test @ http://127.0.0.1:8000
  1 threads and 10 connections
WRK_JSON {"requests":12000,"duration_us":2000000,"bytes":1,"connect":1,"read":2,"write":0,"status":3,"timeout":4,"p50_us":1500,"p90_us":3000,"p99_us":9000,"max_us":12000,"mean_us":1700.5}
"""  # noqa: E501


def test_the_json_line_of_common_lua_is_parsed() -> None:
    run = wrk.parse_wrk(OUTPUT, "wrk ...")
    assert (run.requests, run.duration_s, run.rate) == (12000, 2.0, 6000.0)
    assert (run.errors, run.bad_status) == (7, 3)
    assert (run.p50_ms, run.p99_ms) == (1.5, 9.0)
    assert run.command == "wrk ..."


def test_output_without_the_json_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="WRK_JSON"):
        wrk.parse_wrk("Running 1s test\n")


def test_a_missing_wrk_is_reported_without_installing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("loadtests.wrk.shutil.which", lambda name: None)
    monkeypatch.setattr(wrk, "_apt_install", lambda: pytest.fail("must not install"))
    path, why = wrk.ensure_wrk(install=False)
    assert path is None
    assert "apt-get install -y wrk" in why


def test_every_endpoint_script_loads_the_shared_reporter() -> None:
    scripts = sorted(p.name for p in wrk.SCRIPTS.glob("*.lua"))
    assert scripts == ["click.lua", "common.lua", "impression.lua", "pixel.lua", "sdk_batch.lua",
                       "trivial.lua"]  # fmt: skip
    for name in scripts:
        text = (wrk.SCRIPTS / name).read_text()
        if name != "common.lua":
            assert '"/common.lua")' in text, name
    assert "WRK_JSON" in (wrk.SCRIPTS / "common.lua").read_text()
