"""Turn the server's JSON into kubernetes_asyncio model instances, leniently.

``ApiClient.deserialize`` builds models with client-side validation on, so one field a
server leaves out (an ``imageID`` of a container that has not started, say) makes a whole
``get()`` fail. What the server returned is the truth: here the models are filled from it
with validation off, and unknown fields are dropped as the generated client does.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from kubernetes_asyncio.client import models as _models
from kubernetes_asyncio.client.configuration import Configuration

_LIST = re.compile(r"^list\[(.*)\]$")
_DICT = re.compile(r"^dict\(([^,]*), (.*)\)$")
_PRIMITIVES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}


def is_model_class(value: object) -> bool:
    """True for a generated model class such as ``V1Pod``."""
    return isinstance(value, type) and isinstance(getattr(value, "openapi_types", None), dict)


@functools.cache
def _lenient() -> Any:
    config = Configuration()
    config.client_side_validation = False
    return config


def to_model(data: Any, klass: type[Any] | str) -> Any:
    """Convert JSON data to ``klass`` (a model class or an ``openapi_types`` type name)."""
    if data is None:
        return None
    if isinstance(klass, str):
        if match := _LIST.match(klass):
            return [to_model(item, match.group(1)) for item in data] if isinstance(data, list) else data
        if match := _DICT.match(klass):
            inner = match.group(2)
            return {k: to_model(v, inner) for k, v in data.items()} if isinstance(data, dict) else data
        if klass == "object":
            return data
        if klass in _PRIMITIVES:
            try:
                return _PRIMITIVES[klass](data)
            except (TypeError, ValueError):
                return data
        if klass in ("datetime", "date"):
            return _parse_time(data, klass)
        found = getattr(_models, klass, None)
        return _build(data, found) if is_model_class(found) else data
    return _build(data, klass)


def _build(data: Any, model: Any) -> Any:
    if not isinstance(data, dict) or not model.openapi_types:
        return data
    kwargs = {
        attr: to_model(data[model.attribute_map[attr]], attr_type)
        for attr, attr_type in model.openapi_types.items()
        if model.attribute_map[attr] in data
    }
    return model(local_vars_configuration=_lenient(), **kwargs)


def _parse_time(value: Any, klass: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed if klass == "datetime" else parsed.date()
