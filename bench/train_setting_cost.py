"""What a model setting of ``clinx_ner`` costs in training: seconds per update of the ``cpu``
profile's model (its ``[train.model]`` settings, one document per update) with the setting at
``--baseline`` and at the tried value, two pipelines trained in turns (a pass over the first
``--n-docs`` training documents each, ``--repeats`` times) in one process with torch's threads fixed,
so that the ratio holds on a noisy machine. Prints every pass, the medians and their ratio, and
appends them to ``--report``.

    # bfloat16 autocast of the encoder when training on a CPU, against float32
    python bench/train_setting_cost.py encoders/cpu/ncbi_disease --train corpus/cpu/ncbi_disease/train.spacy \\
        --lang en --setting cpu_bf16_training=true --baseline false
"""
import shlex
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any, Dict

import typer
from common import machine, tried_setting

PROFILE = Path("configs/profiles/cpu.cfg")


def profile_pipeline(encoder: str, train: Path, lang: str, overrides: Dict[str, Any]):
    """The cpu profile's clinx_ner pipeline (its model settings and learning rate), with ``overrides``."""
    import spacy
    from spacy.util import load_config

    from spacy_clinx.schedules import count_documents
    from spacy_clinx.workflow.profiles import load_profile
    from spacy_clinx.workflow.train_splits import training_overrides

    budget = training_overrides(load_profile(PROFILE).train, seed=0, train_docs=count_documents(train))
    config = load_config(Path(f"configs/{lang}_clinx_ner.cfg"), overrides={
        **budget, "paths.encoder": encoder, "paths.train": str(train), "paths.dev": str(train), **overrides},
        interpolate=True)
    return spacy.util.load_model_from_config(config, auto_fill=True)


def main(
    encoder: str = typer.Argument(..., help="Hugging Face encoder folder or hub name"),
    train: Path = typer.Option(..., exists=True, help="training DocBin"),
    setting: str = typer.Option(..., help="NAME=VALUE: a setting of the clinx_ner model and the value to time"),
    baseline: str = typer.Option(..., help="the value to time it against"),
    lang: str = typer.Option("es"),
    n_docs: int = typer.Option(40, min=1, help="the first N training documents: one pass, one update each"),
    repeats: int = typer.Option(3, min=1),
    threads: int = typer.Option(1, min=1, help="torch threads (the workflow trains one split per core)"),
    report: Path = typer.Option(Path("docs/speed-training-settings.md")),
) -> None:
    import torch
    from spacy.tokens import DocBin
    from spacy.training import Example
    from thinc.api import ConfigValidationError, fix_random_seed

    torch.set_num_threads(threads)
    name, values = tried_setting(setting, baseline, "cpu_bf16_training=true")
    docbin = DocBin().from_disk(train)
    runs = {}
    for key, v in values.items():
        fix_random_seed(0)
        try:
            nlp = profile_pipeline(encoder, train, lang, {f"components.clinx_ner.model.{name}": v})
        except ConfigValidationError as err:  # an unknown setting, or a value of the wrong type
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors)
            raise typer.BadParameter(f"{name}={v!r} is not a clinx_ner model setting it accepts ({problems})") from None
        gold = list(docbin.get_docs(nlp.vocab))[:n_docs]
        examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold]
        runs[key] = (nlp, examples, nlp.initialize(lambda: examples))
    words = sum(len(eg.reference.text.split()) for eg in runs["baseline"][1])
    times = {key: [] for key in values}
    for _ in range(repeats):
        for key, (nlp, examples, optimizer) in runs.items():
            start = time.perf_counter()
            for eg in examples:
                nlp.update([eg], sgd=optimizer, drop=0.1)
            times[key].append(time.perf_counter() - start)
            typer.echo(f"{name}={values[key]}: {times[key][-1]:.1f} s")
    median = {key: statistics.median(t) for key, t in times.items()}
    ratio = median["tried"] / median["baseline"]
    line = (f"{name}={values['tried']} against {values['baseline']}: {median['tried']:.1f} s against "
            f"{median['baseline']:.1f} s per pass (median of {repeats}), **{ratio:.2f}x the time**")
    typer.echo(line)
    if not report.exists():
        report.write_text("# Training cost of model settings\n\nWritten by `bench/train_setting_cost.py` (newest "
                          "last): seconds per pass of one update per document, the two settings trained in turns "
                          "in one process.\n", encoding="utf8")
    command = shlex.join(["python", "bench/train_setting_cost.py", encoder, "--train", str(train), "--lang", lang,
                          "--setting", setting, "--baseline", baseline, "--n-docs", str(n_docs), "--repeats",
                          str(repeats), "--threads", str(threads)])
    with report.open("a", encoding="utf8") as out:
        out.write(f"\n## {name}: {values['tried']} against {values['baseline']} ({date.today()})\n\n"
                  f"{machine()}; torch {torch.__version__}, {threads} thread(s). The cpu profile's model, "
                  f"{n_docs} documents of `{train}` ({words:,} whitespace words), encoder `{encoder}`.\n\n"
                  f"```bash\n{command}\n```\n\n"
                  f"| {name} | seconds per pass | median | words/s |\n|---|---|---:|---:|\n"
                  + "".join(f"| {values[k]} | {', '.join(f'{t:.1f}' for t in times[k])} | {median[k]:.1f} | "
                            f"{words / median[k]:,.0f} |\n" for k in values)
                  + f"\n{line}.\n")


if __name__ == "__main__":
    typer.run(main)
