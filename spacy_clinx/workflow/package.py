"""Build an installable pipeline package with ``spacy package``, install it, and check that
it loads by name and tags text in a fresh process with the Hugging Face hub switched off (and,
where the user may create one, in a network namespace with no network at all)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import srsly

CHECK = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
docs = list(nlp.pipe([sys.argv[2]] * 3, batch_size=2))
print(json.dumps([[e.text, e.label_] for e in docs[0].ents]))
"""


# the check's default text per pipeline language: the header and first lines of a clinical case
# as MEDDOCAN's notes have them (names, age, sex, dates, hospital, a professional's licence number)
SAMPLES = {
    "es": ("Datos del paciente.\nNombre: Juan Pérez García.\nEdad: 45 años.\nSexo: H.\n"
           "Fecha de Ingreso: 03/03/2019.\nHospital: Hospital Universitario La Paz.\n"
           "Médico: María López Ruiz NºCol: 28 28 12345.\n\nVarón de 45 años que acude a urgencias "
           "por dolor abdominal de tres días de evolución."),
    "en": "A 45-year-old woman with familial adenomatous polyposis and breast cancer was seen on 3 March 2019.",
}


def pick_pipeline(path: Path, pick: str) -> Path:
    """The pipeline to package: ``path`` itself when it is one; for a training folder of the
    workflow (members.json, ensemble/), its ensemble or its best split model by the score each
    reached on its own held-out part (never the test set)."""
    path = Path(path)
    if (path / "meta.json").exists():
        return path
    if not (path / "members.json").exists():
        raise FileNotFoundError(f"{path}: neither a pipeline (meta.json) nor a training folder (members.json)")
    if pick == "ensemble":
        return path / "ensemble"
    if pick != "best":
        raise ValueError(f"unknown package model {pick!r}: use ensemble or best")
    members = [Path(m) for m in json.loads((path / "members.json").read_text(encoding="utf8"))]
    scores = {m: (srsly.read_json(m / "meta.json").get("performance") or {}).get("spans_char_f", -1.0)
              for m in members}
    return max(members, key=lambda m: scores[m])


def build_and_check(model: Path, output: Path, name: str, version: str, sample: str,
                    target: Optional[Path] = None, echo=print) -> str:
    """Returns the installed package name (``{lang}_{name}``)."""
    lang = srsly.read_json(model / "meta.json")["lang"]
    package = f"{lang}_{name}"
    output.mkdir(parents=True, exist_ok=True)
    built = subprocess.run([sys.executable, "-m", "spacy", "package", str(model), str(output), "--name", name,
                            "--version", version, "--force"], capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"spacy package failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}")
    sdist = output / f"{package}-{version}" / "dist" / f"{package}-{version}.tar.gz"
    if not sdist.exists():
        raise FileNotFoundError(f"spacy package did not write {sdist}")
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall", str(sdist)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if target is not None:
        install += ["--target", str(target), "--upgrade"]
        env["PYTHONPATH"] = os.pathsep.join([str(Path(target).resolve()), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    subprocess.run(install + ["--quiet"], check=True)
    offline = no_network_prefix()
    result = subprocess.run([*offline, sys.executable, "-c", CHECK, package, sample], capture_output=True, text=True,
                            env=env)
    if result.returncode != 0:
        raise RuntimeError(f"The installed package {package} failed to load or run:\n{result.stderr}")
    echo(f"installed {package} {version}; spacy.load({package!r}) in a fresh process"
         f"{' with no network' if offline else ''} found {json.loads(result.stdout)} in the sample")
    return package


def no_network_prefix() -> list:
    """``unshare -n`` (a new network namespace: no interface but loopback) when it can be used here."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    return []
