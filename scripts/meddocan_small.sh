#!/usr/bin/env bash
# The main job until the full workflow lands: MEDDOCAN -> DocBin -> small local encoder ->
# clinx_ner -> strict char-level F1 on the official test set.
# Usage: scripts/meddocan_small.sh [CORPORA_DIR] [EPOCHS]   (CORPORA_DIR defaults to ../shared/corpora)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPORA=${1:-${CLINX_CORPORA:-../shared/corpora}}
EPOCHS=${2:-12}
PY=.venv/bin/python
if [ ! -d "$CORPORA/meddocan/train" ]; then
  echo "MEDDOCAN not found under $CORPORA (expected $CORPORA/meddocan/{train,dev,test}); pass the corpora directory as the first argument." >&2
  exit 2
fi
for split in train dev test; do
  $PY -m spacy_clinx convert "$CORPORA/meddocan/$split" corpus/meddocan/$split.spacy --strict
done
[ -f encoders/meddocan-xlmr-small/config.json ] || \
  $PY -m spacy_clinx encoder encoders/meddocan-xlmr-small -t "$CORPORA/meddocan/train" -t "$CORPORA/meddocan/dev" \
    --mlm-steps 0
STEPS=$(( (500 + 3) / 4 * EPOCHS ))
$PY -m spacy train configs/es_clinx_ner.cfg -o training/meddocan-small \
  --paths.encoder encoders/meddocan-xlmr-small \
  --training.optimizer.learn_rate.initial_rate 0.0005 \
  --training.max_epochs "$EPOCHS" --training.optimizer.learn_rate.total_steps "$STEPS" \
  --corpora.dev.limit 100 --training.logger.progress_bar false
mkdir -p metrics
$PY -m spacy evaluate training/meddocan-small/model-best corpus/meddocan/test.spacy \
  --spans-key char --output metrics/meddocan-small-test.json
