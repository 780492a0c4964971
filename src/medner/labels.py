"""Canonical entity labels and the mapping from each corpus's label names onto them."""

from __future__ import annotations

from medner.errors import UnknownLabelError

DISEASE = "DISEASE"
TREATMENT = "TREATMENT"
CHEMICAL = "CHEMICAL"

CANONICAL_LABELS: tuple[str, ...] = (DISEASE, TREATMENT, CHEMICAL)

# what a mention means (medner.meaning, docs/meaning.md): the optional entity fields a client
# may ask for, and the values of an entity's assertion
MEANING_FIELDS: tuple[str, ...] = ("assertion", "concept", "links")
ASSERTIONS: tuple[str, ...] = ("present", "absent", "possible", "history", "family", "planned")

_ALIASES: dict[str, str] = {
    "d": DISEASE,
    "dis": DISEASE,
    "disease": DISEASE,
    "diseaseclass": DISEASE,
    "specificdisease": DISEASE,
    "modifier": DISEASE,
    "compositemention": DISEASE,
    "t": TREATMENT,
    "treatment": TREATMENT,
    "chemical": CHEMICAL,
    "chem": CHEMICAL,
    "drug": CHEMICAL,
}


def canonical_label(raw: str) -> str:
    """Map a corpus label (``D``, ``Disease``, ``T``, ``Chemical``...) onto a canonical label.

    Raises:
        UnknownLabelError: the label has no canonical counterpart.
    """
    label = _ALIASES.get(raw.strip().lower())
    if label is None:
        raise UnknownLabelError(
            f"unknown entity label {raw!r}; known labels: {', '.join(CANONICAL_LABELS)} "
            f"(and the corpus names {', '.join(sorted(_ALIASES))})"
        )
    return label
