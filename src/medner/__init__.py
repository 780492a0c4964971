"""medner: disease and treatment entities from clinical notes.

Importing the package is cheap: no model, no heavy dependency and no I/O happen here.
"""

from medner.types import Document, Entity

__version__ = "0.1.0"

__all__ = ["Document", "Entity", "__version__"]
