"""Sentence splitting and tokenization that keep exact character offsets into the note."""

from medner.text.sentences import split_sentences
from medner.text.tokenize import tokenize

__all__ = ["split_sentences", "tokenize"]
