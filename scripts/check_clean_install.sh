#!/usr/bin/env bash
# Install a built pipeline package into a new, empty virtualenv (torch, then spacy-clinx from this
# repository, then the package) and load it by name with no network at all (`unshare -n`).
#   bash scripts/check_clean_install.sh packages/cpu/es_clinx_ner-0.1.0/dist/es_clinx_ner-0.1.0.tar.gz es_clinx_ner
set -euo pipefail
SDIST=$(realpath "$1"); NAME=$2
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q torch==2.13.0
"$WORK/venv/bin/pip" install -q "$REPO"
"$WORK/venv/bin/pip" install -q "$SDIST"
echo "installed in a clean virtualenv: $("$WORK/venv/bin/pip" list 2>/dev/null | grep -i -E "^($NAME|spacy-clinx|spacy |torch )" | tr -s ' ' | paste -sd ';')"
cd "$WORK"  # not the repository: the package must not come from the working tree
unshare -n "$WORK/venv/bin/python" - "$NAME" <<'PY'
import sys
import spacy
nlp = spacy.load(sys.argv[1])
doc = nlp("Paciente de 45 años atendido el 3 de marzo de 2019 en Madrid por el Dr. Juan Pérez.")
print(f"spacy.load({sys.argv[1]!r}) with no network: {[(e.text, e.label_) for e in doc.ents]}")
PY
