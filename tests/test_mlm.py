"""Masked-LM blocks and masking: subwords (transformers' collator) or whole words."""
import json
import math

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from pipelines import tiny_encoder
from spacy_clinx.workflow.mlm import (
    MLMSettings,
    DROPOUT_RATES,
    UnigramGuesser,
    masked_lm_loss,
    masked_lm_to_train,
    mlm_collator,
    text_blocks,
    train_mlm,
    whole_word_masks,
)


@pytest.fixture(scope="module")
def base(examples, tmp_path_factory):
    return tiny_encoder("xlm-roberta", [eg.reference.text for eg in examples], tmp_path_factory.mktemp("mlm") / "base")


@pytest.fixture(scope="module")
def tokenizer(base):
    return AutoTokenizer.from_pretrained(base)


def test_blocks_number_each_word_of_the_stream_once_and_special_tokens_none(tokenizer, examples):
    texts = [eg.reference.text for eg in examples]
    blocks = text_blocks(tokenizer, texts, 64)
    assert all(len(b["input_ids"]) == len(b["word_ids"]) for b in blocks)
    specials = set(tokenizer.all_special_ids)
    assert all((w == -1) == (i in specials) for b in blocks for i, w in zip(b["input_ids"], b["word_ids"]))
    # the stream's words are numbered in order, one number per word of the texts (its tail may be cut)
    words = [w for b in blocks for w in b["word_ids"] if w >= 0]
    assert words == sorted(words)
    n_words = sum(max(tokenizer(t, add_special_tokens=False).word_ids()) + 1 for t in texts)
    assert 0.9 * n_words < len(set(words)) <= n_words
    assert len(set(words)) < len(words), "the fixture text has words of several subwords"


def test_whole_word_masks_take_every_subword_of_a_chosen_word():
    torch.manual_seed(0)
    word_ids = torch.tensor([[-1, 0, 0, 1, 2, 2, 2, -1], [-1, 2, 2, 3, 3, 4, -1, -1]])
    for _ in range(50):
        masked = whole_word_masks(word_ids, 0.5)
        assert not masked[word_ids < 0].any()
        for row in range(2):
            for word in word_ids[row].unique().tolist():
                if word >= 0:
                    chosen = masked[row][word_ids[row] == word]
                    assert chosen.all() or not chosen.any()
    assert whole_word_masks(word_ids, 1.0).equal(word_ids >= 0)
    assert not whole_word_masks(word_ids, 0.0).any()
    # word 2 of row 0 and word 2 of row 1 are drawn apart
    draws = [whole_word_masks(word_ids, 0.5) for _ in range(200)]
    assert any(d[0, 4] != d[1, 1] for d in draws)


def test_whole_word_batches_mask_about_the_share_of_words_and_label_only_masked_subwords(tokenizer, examples):
    blocks = text_blocks(tokenizer, [eg.reference.text for eg in examples], 64)
    assert len(blocks[-1]["input_ids"]) < 64, "the last block is short: the batch pads it"
    collate = mlm_collator(tokenizer, MLMSettings(whole_word_mask=True))
    torch.manual_seed(0)
    batch = collate(blocks)
    chosen, words = set(), set()
    for row, block in enumerate(blocks):
        n = len(block["input_ids"])
        ids, labels, shown = torch.tensor(block["input_ids"]), batch["labels"][row], batch["input_ids"][row]
        assert (labels[n:] == -100).all() and (batch["attention_mask"][row, n:] == 0).all()
        masked = labels[:n] != -100
        assert labels[:n][masked].equal(ids[masked]) and shown[:n][~masked].equal(ids[~masked])
        word_ids = torch.tensor(block["word_ids"])
        for word in word_ids[word_ids >= 0].unique().tolist():
            taken = masked[word_ids == word]
            assert taken.all() or not taken.any()  # a word is masked whole or not at all
            words.add((row, word))
            if taken.any():
                chosen.add((row, word))
    assert 0.10 < len(chosen) / len(words) < 0.20
    masked = batch["labels"] != -100  # about 80% of them show the mask token
    assert 0.7 < (batch["input_ids"][masked] == tokenizer.mask_token_id).float().mean() < 0.9


def test_masked_lm_with_whole_word_masks_learns(base, examples, tmp_path):
    texts = [eg.reference.text for eg in examples]
    torch.set_num_threads(1)
    report = train_mlm(str(base), texts, tmp_path / "wwm",
                       MLMSettings(steps=30, batch_size=4, block_size=64, whole_word_mask=True), progress=False)
    assert report["settings"]["whole_word_mask"] is True
    assert report["heldout_loss_after"] < report["heldout_loss_before"]
    assert json.loads((tmp_path / "wwm" / "mlm.json").read_text())["heldout_loss_after"] == report["heldout_loss_after"]
    # an untrained encoder guesses about uniformly, worse than the text's subword frequencies
    assert report["heldout_loss_unigram"] < report["heldout_loss_before"]


def test_the_unigram_reference_guesses_each_masked_subword_from_training_frequencies():
    blocks = [{"input_ids": [0, 1, 1, 2], "word_ids": [-1, 0, 1, -1]}, {"input_ids": [1, 3], "word_ids": [2, 3]}]
    guesser = UnigramGuesser(blocks, vocab_size=4)
    # the special tokens (word -1) uncounted: counts 0, 3, 0, 1 of 4, add-one smoothed over 4 subwords:
    # 1/8, 4/8, 1/8, 2/8
    loss = guesser(input_ids=torch.zeros(1, 3, dtype=torch.long), labels=torch.tensor([[1, -100, 2]])).loss
    assert loss.item() == pytest.approx((-math.log(4 / 8) - math.log(1 / 8)) / 2, rel=1e-5)


def test_masked_lm_in_bf16_on_a_cpu_learns_under_autocast(base, examples, tmp_path, monkeypatch):
    """cpu_bf16: the forward passes run under a CPU bfloat16 autocast (as on a CPU with AVX-512, whatever
    this one has) and the model still learns; its held-out loss is measured in float32 as always."""
    from spacy_clinx import device

    monkeypatch.setattr(device, "cpu_runs_bf16", lambda: True)
    device.bf16_fits_this_cpu.cache_clear()
    seen = []
    real = torch.nn.Module.__call__

    def spy(module, *args, **kwargs):
        if type(module).__name__.endswith(("ForMaskedLM", "RobertaModel")):  # training calls the encoder alone
            seen.append(torch.is_autocast_enabled("cpu"))
        return real(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", spy)
    try:
        report = train_mlm(str(base), [eg.reference.text for eg in examples], tmp_path / "bf16",
                           MLMSettings(steps=30, batch_size=4, block_size=64, cpu_bf16=True), progress=False)
    finally:
        device.bf16_fits_this_cpu.cache_clear()
    assert report["heldout_loss_after"] < report["heldout_loss_before"]
    assert seen.count(True) == 30 and False in seen  # every training step in bf16, the held-out loss not


@pytest.mark.parametrize("architecture", ["xlm-roberta", "longformer"])
def test_masked_lm_dropout_turns_every_dropout_off_and_the_saved_encoder_keeps_its_own(architecture, examples,
                                                                                     tmp_path):
    texts = [eg.reference.text for eg in examples]
    path = tiny_encoder(architecture, texts, tmp_path / "base")
    model, tokenizer = masked_lm_to_train(str(path), dropout=0.0)
    model.train()
    batch = tokenizer(texts[:2], return_tensors="pt", padding=True, truncation=True, max_length=64)
    with torch.no_grad():  # attention dropout included: in training mode two passes agree
        assert torch.equal(model(**batch).logits, model(**batch).logits)
    own = json.loads((path / "config.json").read_text())
    assert own["attention_probs_dropout_prob"] > 0
    assert {k: model.config.to_dict()[k] for k in DROPOUT_RATES if k in own} == {k: own[k] for k in DROPOUT_RATES if k in own}
    train_mlm(str(path), texts, tmp_path / "nodrop", MLMSettings(steps=2, batch_size=4, block_size=64, dropout=0.0),
              progress=False)
    saved = json.loads((tmp_path / "nodrop" / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == own["hidden_dropout_prob"] > 0


def test_a_masked_lm_of_another_head_takes_its_own_forward_pass(tokenizer, examples):
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    model = DistilBertForMaskedLM(DistilBertConfig(vocab_size=len(tokenizer), dim=32, hidden_dim=64, n_layers=1,
                                                   n_heads=2)).eval()
    torch.manual_seed(0)
    settings = MLMSettings(block_size=64)
    batch = mlm_collator(tokenizer, settings)(text_blocks(tokenizer, [eg.reference.text for eg in examples], 64)[:2])
    with torch.no_grad():
        assert masked_lm_loss(model, batch).item() == pytest.approx(model(**batch).loss.item(), rel=1e-6)


@pytest.mark.parametrize("architecture", ["xlm-roberta", "bert", "longformer"])
def test_the_masked_lm_loss_on_masked_positions_only_is_the_models_own(architecture, examples, tmp_path):
    texts = [eg.reference.text for eg in examples]
    path = tiny_encoder(architecture, texts, tmp_path / architecture)
    model, tokenizer = AutoModelForMaskedLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    settings = MLMSettings(block_size=64)
    torch.manual_seed(0)
    batch = mlm_collator(tokenizer, settings)(text_blocks(tokenizer, texts, settings.block_size)[:4])
    with torch.no_grad():
        assert masked_lm_loss(model, batch).item() == pytest.approx(model(**batch).loss.item(), rel=1e-5)
