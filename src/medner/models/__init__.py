"""Model backends behind one interface (:class:`medner.models.base.NerModel`)."""

from medner.models.base import NerModel, load_model, set_sentence_cache

__all__ = ["NerModel", "load_model", "set_sentence_cache"]
