"""The medner model as an MLflow ``pyfunc`` model, so that MLflow's own tools serve and score it
(``mlflow models predict -m models:/medner@champion -i notes.json -t json --env-manager local``).

Logged as code (MLflow's "models from code"): this file is stored with the model and run at
load time, so nothing is pickled; it needs medner installed where the model is loaded.

Input: a list of notes (or a DataFrame with one column, ``text``). Output: one
``{"entities": [entity, ...]}`` per note, entities as in DESIGN.md.
"""

from __future__ import annotations

from typing import Any

from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel

from medner.models.base import NerModel, load_model
from medner.tracking.runs import MODEL_ARTIFACT


class MednerPyfunc(PythonModel):
    """Wraps a saved medner model directory (shipped as the ``medner_model`` artifact)."""

    def load_context(self, context: Any) -> None:
        self.model: NerModel = load_model(context.artifacts[MODEL_ARTIFACT])

    # The list[str] hint is MLflow's input schema: a list of notes, or a one-column DataFrame.
    # No return hint: MLflow cannot type a list of mixed-type dicts, so it infers the output
    # schema from the input example instead.
    def predict(  # type: ignore[no-untyped-def]
        self, context: Any, model_input: list[str], params: dict[str, str] | None = None
    ):
        return [
            {"entities": [e.to_dict() for e in entities]}
            for entities in self.model.predict_many(model_input)
        ]


set_model(MednerPyfunc())
