import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_clinx.model.layers.crf import ConstrainedCRF
from spacy_clinx.tagging import allowed_transitions, make_tag_names


@settings(max_examples=60, deadline=None)
@given(
    n_labels=st.integers(1, 4),
    scheme=st.sampled_from(["BIOES", "BIO"]),
    batch=st.integers(1, 4),
    length=st.integers(1, 30),
    scale=st.sampled_from([1.0, 10.0, 1000.0]),
    seed=st.integers(0, 2**16),
)
def test_viterbi_never_returns_invalid_sequences(n_labels, scheme, batch, length, scale, seed):
    names = make_tag_names([f"L{i}" for i in range(n_labels)], scheme)
    crf = ConstrainedCRF(names)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # random learned parameters too, not only random emissions
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    emissions = torch.randn(batch, length, len(names), generator=gen) * scale
    lengths = torch.randint(1, length + 1, (batch,), generator=gen)
    mask = torch.arange(length)[None, :] < lengths[:, None]
    paths = crf.viterbi(emissions, mask)
    start, trans, end = allowed_transitions(names)
    for b in range(batch):
        path = paths[b, : lengths[b]].tolist()
        assert (paths[b, lengths[b]:] == -1).all()
        assert start[path[0]] and end[path[-1]]
        assert all(trans[x, y] for x, y in zip(path, path[1:]))


def test_forbidden_transitions_cannot_be_learned():
    names = make_tag_names(["A"])
    crf = ConstrainedCRF(names)
    emissions = torch.randn(2, 5, len(names), requires_grad=True)
    tags = torch.tensor([[1, 2, 3, 0, 4], [0, 0, 4, 1, 3]])  # valid BIOES
    loss = crf.nll(emissions, tags, torch.ones(2, 5, dtype=torch.bool))
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    forbidden = ~crf.allowed_transitions
    assert (crf._parameters["transitions"].grad[forbidden] == 0).all()


def test_marginals_match_brute_force_enumeration():
    import itertools

    names = make_tag_names(["A"])
    crf = ConstrainedCRF(names)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    emissions = torch.randn(2, 4, len(names), generator=gen)
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    marginals = crf.marginals(emissions, mask)
    for b, length in enumerate([4, 3]):
        expected = torch.zeros(length, len(names))
        total = 0.0
        for path in itertools.product(range(len(names)), repeat=length):
            tags = torch.tensor([path])
            weight = torch.exp(-crf.nll(emissions[b : b + 1, :length], tags, torch.ones(1, length, dtype=torch.bool)))
            total += weight
            for t, tag in enumerate(path):
                expected[t, tag] += weight
        assert torch.allclose(marginals[b, :length], expected / total, atol=1e-5)
        assert torch.allclose(marginals[b, :length].sum(-1), torch.ones(length), atol=1e-5)


def pytorch_crf(crf, dtype=torch.float32):
    """The reference: pytorch-crf's CRF holding our CRF's scores (forbidden ones at FORBIDDEN)."""
    from torchcrf import CRF

    reference = CRF(crf.num_tags, batch_first=True)
    with torch.no_grad():
        for name, value in zip(("start_transitions", "transitions", "end_transitions"), crf.scores()):
            getattr(reference, name).copy_(value)
    return reference.to(dtype)


def random_crf_batch(n_labels, batch, length, seed, weight_scale=1.0, emission_scale=1.0):
    """A BIOES CRF with random weights, random emissions and random lengths (each row at least 1)."""
    names = make_tag_names([f"L{i}" for i in range(n_labels)], "BIOES")
    crf = ConstrainedCRF(names)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(weight_scale * torch.randn(p.shape, generator=gen))
    emissions = emission_scale * torch.randn(batch, length, len(names), generator=gen)
    lengths = torch.randint(1, length + 1, (batch,), generator=gen)
    mask = torch.arange(length)[None, :] < lengths[:, None]
    return crf, emissions, lengths, mask


@settings(max_examples=40, deadline=None)
@given(n_labels=st.integers(1, 4), batch=st.integers(1, 4), length=st.integers(1, 60), seed=st.integers(0, 2**16))
def test_scaled_marginals_match_log_space(n_labels, batch, length, seed):
    crf, emissions, lengths, mask = random_crf_batch(n_labels, batch, length, seed, weight_scale=3, emission_scale=5)
    expected = crf._log_marginals(emissions.double(), mask).float()
    assert torch.allclose(crf.marginals(emissions, mask), expected, atol=1e-5)


def test_marginals_survive_underflow(monkeypatch):
    """Scores 5,000 apart underflow in probability space; that row falls back to log space."""
    names = make_tag_names(["A"])
    crf = ConstrainedCRF(names)
    fallback_rows = []
    log_marginals = crf._log_marginals
    monkeypatch.setattr(crf, "_log_marginals", lambda e, m: fallback_rows.append(len(e)) or log_marginals(e, m))
    emissions = torch.zeros(2, 3, len(names))
    emissions[0, 1, names.index("O")] = 5000.0  # B-A at 0 must continue, but its successors are 5,000 below O
    emissions[0, 0, names.index("B-A")] = 9000.0
    mask = torch.ones(2, 3, dtype=torch.bool)
    marginals = crf.marginals(emissions, mask)
    assert fallback_rows == [1]
    assert torch.isfinite(marginals).all()
    assert torch.allclose(marginals.sum(-1), torch.ones(2, 3), atol=1e-5)
    assert torch.allclose(marginals, crf._log_marginals(emissions.double(), mask).float(), atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(n_labels=st.integers(1, 4), batch=st.integers(1, 4), length=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_numpy_viterbi_matches_pytorch_crf_decode(n_labels, batch, length, seed):
    crf, emissions, lengths, mask = random_crf_batch(n_labels, batch, length, seed)
    paths = crf.viterbi(emissions, mask)
    expected = pytorch_crf(crf).decode(emissions, mask)  # pytorch-crf's own Viterbi
    assert [paths[b, : lengths[b]].tolist() for b in range(batch)] == expected


@settings(max_examples=25, deadline=None)
@given(n_labels=st.integers(1, 4), batch=st.integers(1, 4), length=st.integers(1, 40), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 5.0]))
def test_nll_and_gradients_match_pytorch_crf_in_float64(n_labels, batch, length, seed, scale):
    """The scaled forward-backward loss and its hand-written gradient against pytorch-crf's
    log-space computation through autograd in float64."""
    crf, emissions, _, mask = random_crf_batch(n_labels, batch, length, seed, scale, scale)
    tags = torch.randint(0, len(crf.allowed_start), (batch, length), generator=torch.Generator().manual_seed(seed))

    def loss_and_grads(model, em, loss_of):
        em = em.clone().requires_grad_()
        model.zero_grad()
        loss = loss_of(model, em)
        loss.backward()
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in model.parameters()]  # unused at length 1
        return [t.detach().double() for t in (loss, em.grad, *grads)]

    loss, *grads = loss_and_grads(crf.float(), emissions, lambda c, e: c.nll(e, tags, mask))
    expected_loss, *expected_grads = loss_and_grads(
        pytorch_crf(crf, torch.float64), emissions.double(), lambda c, e: -c(e, tags, mask, reduction="sum"))
    assert torch.allclose(loss, expected_loss, rtol=1e-6, atol=1e-3)
    # the reference learns its copies of the fixed forbidden scores too (random gold tags use them); ours cannot
    em_grad, *param_grads = expected_grads
    allowed = (crf.allowed_start, crf.allowed_end, crf.allowed_transitions)  # the parameters' order
    expected_grads = [em_grad, *(g * a for g, a in zip(param_grads, allowed))]
    for got, expected in zip(grads, expected_grads):
        assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_nll_falls_back_to_log_space_where_probabilities_underflow():
    crf, emissions, _, mask = random_crf_batch(2, 3, 12, seed=1)
    emissions = emissions.clone()
    emissions[1] *= 5000.0  # row 1: scores thousands apart, beyond float64 probabilities
    tags = torch.zeros(3, 12, dtype=torch.long)
    emissions.requires_grad_()
    loss = crf.nll(emissions, tags, mask)
    loss.backward()
    expected = -pytorch_crf(crf)(emissions.detach(), tags, mask, reduction="sum")
    assert torch.isfinite(loss) and torch.allclose(loss, expected, rtol=1e-4)
    assert torch.isfinite(emissions.grad).all() and emissions.grad[1].abs().sum() > 0


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(0, 50), max_size=30), max_docs=st.integers(1, 8), max_positions=st.integers(1, 120))
def test_decode_batches_bound_the_padding(lengths, max_docs, max_positions):
    from spacy_clinx.model.layers.heads import decode_batches

    groups = decode_batches(lengths, max_docs, max_positions)
    assert sorted(i for g in groups for i in g) == [i for i, n in enumerate(lengths) if n]
    for group in groups:
        assert len(group) == 1 or (len(group) <= max_docs and len(group) * max(lengths[i] for i in group) <= max_positions)


def test_decode_documents_same_paths_however_documents_are_grouped(monkeypatch):
    """A long document decoded alone (no padded copy) and short ones padded together give the
    same paths as pytorch-crf decoding each document on its own."""
    from types import SimpleNamespace

    import numpy

    from spacy_clinx.model import architecture
    from spacy_clinx.model.layers import heads

    crf, emissions, lengths, _ = random_crf_batch(3, 6, 40, seed=7)
    docs = [emissions[b, : lengths[b]].numpy() for b in range(6)] + [numpy.zeros((0, emissions.shape[2]), "float32")]
    model = architecture.build_subword_crf_tagger("unused", windows_per_batch=4)
    model.layers[0].shims[0]._model = SimpleNamespace(head="crf", crf=crf)
    expected = [pytorch_crf(crf).decode(torch.from_numpy(d)[None], torch.ones(1, len(d), dtype=torch.bool))[0]
                if len(d) else []
                for d in docs]
    for max_positions in (1, 60, 10_000):
        monkeypatch.setattr(heads, "DECODE_POSITIONS", max_positions)
        tags, _ = architecture.decode_documents(model, docs)
        assert [t.tolist() for t in tags] == expected
