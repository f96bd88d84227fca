"""Load the Lambda handlers from functions/<name>/app.py (every one is a module named `app`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from functions_framework import create_app

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def load_handler(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"functions_{name}", FUNCTIONS / name / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_cloud_function(target: str, signature: str) -> Any:
    """A functions-framework test client for functions/on_gar_push/main.py."""
    app = create_app(target, str(FUNCTIONS / "on_gar_push" / "main.py"), signature)
    return app.test_client()
