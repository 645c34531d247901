"""``reports/make_samples.py --out DIR`` deletes DIR only when an earlier run of it made DIR
(its marker file is there); any other folder with something in it is refused, untouched."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.workbench import load_script


@pytest.fixture(scope="module")
def make_samples() -> ModuleType:
    return load_script("reports/make_samples.py", "reports_make_samples")


def test_a_folder_it_did_not_make_is_refused_and_kept(tmp_path, capsys, make_samples) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    # main() refuses before it builds anything
    assert make_samples.main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not empty and was not made by this script" in err and make_samples.MARKER in err
    assert err.count("\n") == 1
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]
    assert (out / "thesis.tex").read_text() == "years of work"


def test_files_and_links_are_refused(tmp_path, make_samples) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    assert "is not a folder" in make_samples.prepare_out(a_file)
    assert a_file.read_text() == "keep"
    target = tmp_path / "target"
    target.mkdir()
    (target / make_samples.MARKER).write_text("")
    (target / "other").write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert "symbolic link" in make_samples.prepare_out(link)
    assert (target / "other").read_text() == "keep"


def test_new_empty_and_own_folders_are_used(tmp_path, make_samples) -> None:
    new = tmp_path / "a" / "new"
    assert make_samples.prepare_out(new) is None
    assert [p.name for p in new.iterdir()] == [make_samples.MARKER]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert make_samples.prepare_out(empty) is None
    assert (empty / make_samples.MARKER).is_file()
    # an earlier run's folder is cleared for the new samples
    (new / "scan").mkdir()
    (new / "scan" / "index.html").write_text("old")
    (new / "AUDIT.html").write_text("old")
    assert make_samples.prepare_out(new) is None
    assert [p.name for p in new.iterdir()] == [make_samples.MARKER]
