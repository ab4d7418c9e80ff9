"""What an ``[mlm]`` setting costs in masked-LM training: seconds per step of the ``cpu`` profile's
masked LM (its ``[mlm]`` settings) with the setting at ``--baseline`` and at the tried value, two
copies of the base model trained in turns (``--steps`` steps each, ``--repeats`` times) in one process
with torch's threads fixed, so that the ratio holds on a noisy machine. Both see the same batches.
Prints every pass, the medians and their ratio, and appends them to ``--report``.

    # bfloat16 autocast of the masked LM's forward passes on a CPU, against float32
    python bench/mlm_setting_cost.py encoders/cpu/meddocan-init --texts corpus/cpu/meddocan/train.spacy \\
        --setting cpu_bf16=true --baseline false
"""
import dataclasses
import shlex
import statistics
import time
from datetime import date
from pathlib import Path

import typer
from common import machine, tried_setting

PROFILE = Path("configs/profiles/cpu.cfg")


def main(
    base_model: str = typer.Argument(..., help="the masked LM to train: a folder (e.g. the encoder step's OUTPUT-init) or hub name"),
    texts: Path = typer.Option(..., exists=True, help="a DocBin whose texts the masked LM trains on"),
    setting: str = typer.Option(..., help="NAME=VALUE: an [mlm] setting and the value to time"),
    baseline: str = typer.Option(..., help="the value to time it against"),
    steps: int = typer.Option(20, min=1, help="steps per pass"),
    repeats: int = typer.Option(3, min=1),
    threads: int = typer.Option(1, min=1, help="torch threads"),
    report: Path = typer.Option(Path("docs/speed-training-settings.md")),
) -> None:
    import numpy
    import spacy
    import torch
    from spacy.tokens import DocBin
    from transformers import get_linear_schedule_with_warmup

    from spacy_clinx.device import bf16_fits_this_cpu
    from spacy_clinx.model.encoder import load_masked_lm
    from spacy_clinx.workflow.mlm import mlm_collator, mlm_step, text_blocks
    from spacy_clinx.workflow.profiles import load_profile

    torch.set_num_threads(threads)
    name, values = tried_setting(setting, baseline, "cpu_bf16=true")
    profile_settings = load_profile(PROFILE).mlm
    if name not in {f.name for f in dataclasses.fields(profile_settings)}:
        raise typer.BadParameter(f"--setting {setting!r}: {name} is not an [mlm] setting")
    corpus = [doc.text for doc in DocBin().from_disk(texts).get_docs(spacy.blank("xx").vocab)]
    device = torch.device("cpu")
    runs = {}
    for key, v in values.items():
        settings = dataclasses.replace(profile_settings, **{name: v})
        model, tokenizer = load_masked_lm(base_model)
        model.train()
        blocks = text_blocks(tokenizer, corpus, settings.block_size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learn_rate, weight_decay=settings.weight_decay)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup * settings.steps), settings.steps)
        bf16 = settings.cpu_bf16 and bf16_fits_this_cpu()
        order = [blocks[j] for j in numpy.random.RandomState(0).permutation(len(blocks))]
        batches = [order[i : i + settings.batch_size] for i in range(0, len(order) - settings.batch_size + 1,
                                                                     settings.batch_size)]
        if not batches:
            raise typer.BadParameter(f"{texts}: {len(blocks)} blocks of {settings.block_size} subwords, fewer than a "
                                     f"batch of {settings.batch_size}; give more text")
        runs[key] = (model, mlm_collator(tokenizer, settings), optimizer, scheduler, bf16, batches)
    times = {key: [] for key in values}
    for repeat in range(repeats):
        for key, (model, collator, optimizer, scheduler, bf16, batches) in runs.items():
            torch.manual_seed(repeat)  # the same masks for both
            start = time.perf_counter()
            for step in range(repeat * steps, (repeat + 1) * steps):
                mlm_step(model, collator(batches[step % len(batches)]), optimizer, scheduler, device, bf16, step)
            times[key].append(time.perf_counter() - start)
            typer.echo(f"{name}={values[key]}: {times[key][-1]:.1f} s")
    median = {key: statistics.median(t) for key, t in times.items()}
    ratio = median["tried"] / median["baseline"]
    line = (f"[mlm] {name}={values['tried']} against {values['baseline']}: {median['tried']:.1f} s against "
            f"{median['baseline']:.1f} s per {steps} steps (median of {repeats}), **{ratio:.2f}x the time**")
    typer.echo(line)
    if not report.exists():
        report.write_text("# Training cost of model settings\n\nWritten by `bench/train_setting_cost.py` and "
                          "`bench/mlm_setting_cost.py` (newest last): the two settings trained in turns in one "
                          "process.\n", encoding="utf8")
    command = shlex.join(["python", "bench/mlm_setting_cost.py", base_model, "--texts", str(texts), "--setting",
                          setting, "--baseline", baseline, "--steps", str(steps), "--repeats", str(repeats),
                          "--threads", str(threads)])
    with report.open("a", encoding="utf8") as out:
        out.write(f"\n## [mlm] {name}: {values['tried']} against {values['baseline']} ({date.today()})\n\n"
                  f"{machine()}; torch {torch.__version__}, {threads} thread(s). The cpu profile's masked LM "
                  f"(batches of {profile_settings.batch_size} blocks of {profile_settings.block_size} subwords) from "
                  f"`{base_model}`, on the texts of `{texts}`.\n\n"
                  f"```bash\n{command}\n```\n\n"
                  f"| {name} | seconds per pass | median | steps/s |\n|---|---|---:|---:|\n"
                  + "".join(f"| {values[k]} | {', '.join(f'{t:.1f}' for t in times[k])} | {median[k]:.1f} | "
                            f"{steps / median[k]:.2f} |\n" for k in values)
                  + f"\n{line}.\n")


if __name__ == "__main__":
    typer.run(main)
