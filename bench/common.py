"""Shared by the benchmarks: running the package's commands, preparing corpora, describing the machine."""
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import List


def clinx(*args) -> None:
    """``python -m spacy_clinx ARGS`` in a subprocess, its output shown as it runs."""
    subprocess.run([sys.executable, "-m", "spacy_clinx", *map(str, args)], check=True)


def prepare_corpus(name: str, corpora_dir: Path, work: Path, lang: str = "es") -> Path:
    """``work/corpus/NAME/{train,dev,test}.spacy`` from the corpora folder (fetched and converted once)."""
    data = work / "corpus" / name
    if not (data / "test.spacy").exists():
        clinx("fetch-corpus", name, work / "assets" / name, "--local", corpora_dir)
        for split in ("train", "dev", "test"):
            clinx("convert", work / "assets" / name / split, "-o", data / f"{split}.spacy", "--lang", lang)
    return data


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def write_markdown(path: Path, lines: List[str], show: bool = True) -> None:
    """Write a report (and print it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    if show:
        print("\n".join(lines))
