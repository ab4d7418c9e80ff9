"""written_aside: a finished block replaces the target; a failed one leaves it as it was."""
import pytest

from spacy_clinx.atomic import written_aside


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "checkpoint"
    target.mkdir()
    (target / "state").write_text("old")
    with pytest.raises(RuntimeError):
        with written_aside(target) as partial:
            partial.mkdir()
            (partial / "state").write_text("half")
            raise RuntimeError("killed")
    assert (target / "state").read_text() == "old" and not partial.exists()
    with written_aside(target) as partial:
        partial.mkdir()
        (partial / "state").write_text("new")
    assert (target / "state").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_file_is_replaced_by_one_rename(tmp_path):
    target = tmp_path / "a.ann"
    with written_aside(target) as partial:
        partial.write_text("T1\tX 0 1\tx\n")
    assert target.read_text() == "T1\tX 0 1\tx\n" and not partial.exists()
