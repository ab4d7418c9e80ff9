"""Rule-based sentence starts for clinical text: line breaks and sentence-final punctuation.

Used for ``doc.sents`` of converted corpora (low-resource subsets count sentences).
The tagger itself does not depend on it: its windows are cut on subwords.
"""
from spacy.tokens import Doc

FINAL_PUNCT = {".", "!", "?", ";"}


def set_sentence_starts(doc: Doc) -> Doc:
    """A token starts a sentence after a line break, or after final punctuation plus a space."""
    new_sentence = True
    for token in doc:
        if token.is_space:
            token.is_sent_start = False if token.i > 0 else True
            if "\n" in token.text:
                new_sentence = True
            continue
        token.is_sent_start = new_sentence
        new_sentence = token.text in FINAL_PUNCT and (
            bool(token.whitespace_) or token.i + 1 == len(doc) or doc[token.i + 1].is_space
        )
    return doc
