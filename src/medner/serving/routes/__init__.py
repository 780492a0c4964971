"""The API's routes, one router per area. Each router declares the scope its routes need once
(``dependencies=[require_scope(...)]``) and ``medner.serving.app`` mounts them."""
