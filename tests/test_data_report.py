"""The data report step: counts a reader can check by hand on a small corpus."""
import json
import subprocess
import sys

from pipelines import SUBPROCESS_ENV

DOCS = {
    "train/a": ("Juan Pérez vive en Madrid.",
                "T1\tNAME 0 10\tJuan Pérez\nT2\tFIRST 0 4\tJuan\nT3\tPLACE 19 25\tMadrid\nT4\tNAME 0 4;5 10\tJuan Pérez\n"),
    "train/b": ("Ana López, Madrid centro.", "T1\tNAME 0 9\tAna López\nT2\tPLACE 4 17\tLópez, Madrid\n"),
    "dev/c": ("Llamar al 600 123 456.", "T1\tPHONE 10 21\t600 123 456\n"),
}


def test_the_data_report_counts_documents_entities_lengths_overlaps_unseen_labels_and_problems(tmp_path):
    for name, (text, ann) in DOCS.items():
        (tmp_path / "brat" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "brat" / f"{name}.txt").write_text(text, encoding="utf8")
        (tmp_path / "brat" / f"{name}.ann").write_text(ann, encoding="utf8")
    run = lambda *args: subprocess.run([sys.executable, "-m", "spacy_clinx", *map(str, args)], cwd=tmp_path,  # noqa: E731
                                       capture_output=True, text=True, env=SUBPROCESS_ENV)
    for split in ("train", "dev"):
        assert run("convert", f"brat/{split}", f"corpus/{split}.spacy", "--problems",
                   f"corpus/{split}-problems.tsv").returncode == 0
    result = run("data-report", "corpus", "metrics/data.json", "--title", "toy")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "metrics" / "data.json").read_text())
    train, dev = report["splits"]["train"], report["splits"]["dev"]
    assert (train["documents"], train["words"], train["entities"]) == (2, 12, 5)
    assert train["labels"] == {"FIRST": 1, "NAME": 2, "PLACE": 2}
    assert (train["nested_pairs"], train["overlapping_pairs"]) == (1, 1)
    assert train["entity_tokens"]["buckets"] == {"1": 2, "2": 2, "3": 1, "4-5": 0, "6-10": 0, "11+": 0}
    assert train["entity_tokens"]["median"] == 2
    assert (dev["documents"], dev["words"], dev["labels"]) == (1, 6, {"PHONE": 1})
    assert report["unseen_labels"] == {"dev": ["PHONE"]}
    assert report["problems"]["train"]["discontinuous"] == 1
    markdown = (tmp_path / "metrics" / "data.md").read_text()
    assert "| `NAME` | 2 | 0 |" in markdown and "dev has labels that train lacks" in markdown and "`PHONE`" in markdown
    assert "| entities | 5 | 1 |" in result.stdout
