"""The stage runner's resume rule, on two trivial stages: unchanged code and settings skip,
new code reruns (the version string alone does not change while code is developed)."""

from __future__ import annotations

from pathlib import Path

import sonomics.pipeline.runner as runner_module
from sonomics._version import code_digest
from sonomics.pipeline import Stage
from sonomics.pipeline.runner import Runner


def _stages(calls: list[str]) -> list[Stage]:
    def first(ctx: Path) -> None:
        calls.append("first")
        (ctx / "a.txt").write_text("a")

    def second(ctx: Path) -> None:
        calls.append("second")
        (ctx / "b.txt").write_text((ctx / "a.txt").read_text() + "b")

    return [Stage("first", first, "first", writes=("a.txt",)),
            Stage("second", second, "second", needs=("first",), writes=("b.txt",))]


def test_new_code_reruns_every_stage_and_same_code_reruns_none(tmp_path, monkeypatch):
    calls: list[str] = []
    Runner(_stages(calls), tmp_path).run(tmp_path)
    Runner(_stages(calls), tmp_path).run(tmp_path)
    assert calls == ["first", "second"]  # the second run recomputed nothing
    assert len(code_digest()) == 16
    marker = (tmp_path / "cache" / "stages" / "first.json").read_text()
    assert code_digest() in marker  # the marker says which code made the outputs

    monkeypatch.setattr(runner_module, "code_digest", lambda: "0123456789abcdef")
    Runner(_stages(calls), tmp_path).run(tmp_path)
    assert calls == ["first", "second", "first", "second"]
