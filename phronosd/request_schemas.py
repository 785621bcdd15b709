"""Request schemas: read from the `schemas/` folder, checked and compiled once at start-up."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource

from .errors import BadRequest

MAX_DETAILS = 20


class SchemaSet:
    """Compiled validators by schema name (`validate`, `run`, ...)."""

    def __init__(self, documents: dict[str, dict[str, Any]]):
        registry = Registry().with_resources((doc["$id"], Resource.from_contents(doc)) for doc in documents.values())
        self.documents = documents
        self.validators = {}
        for name, doc in documents.items():
            try:
                Draft202012Validator.check_schema(doc)
            except SchemaError as exc:
                raise RuntimeError(f"schema {name}.json is invalid: {exc.message}") from None
            self.validators[name] = Draft202012Validator(doc, registry=registry)

    @classmethod
    @functools.cache
    def load(cls, language_names: tuple[str, ...]) -> SchemaSet:
        """Every `schemas/*.json`; the language field lists `language_names` (the registry's). Loaded
        and checked once per process: checking the schemas is the costliest part of making an app."""
        documents = {}
        for entry in resources.files("phronosd.schemas").iterdir():
            if entry.name.endswith(".json"):
                try:
                    documents[entry.name[:-5]] = json.loads(entry.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise RuntimeError(f"schema {entry.name} is not JSON: {exc}") from None
        language = documents["submission"]["$defs"]["language"]
        language["description"] = f"Language name or alias: {', '.join(language_names)}."
        return cls(documents)

    def check(self, name: str, body: Any, at: str = "$") -> None:
        """Raise `BadRequest` listing each offending field by its JSON path (below `at`, where the
        checked body sits in the request); never echo values."""
        errors = sorted(self.validators[name].iter_errors(body), key=lambda e: list(e.absolute_path))
        if not errors:
            return
        details = [describe(error, at) for error in errors[:MAX_DETAILS]]
        first = details[0]
        raise BadRequest("request.schema", f"invalid request: {first['path']}: {first['problem']}", details)


def describe(error, at: str = "$") -> dict[str, str]:
    path = at + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return {"path": path, "problem": f"unknown field(s): {', '.join(map(str, extra))[:200]}"}
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return {"path": path, "problem": f"missing required field(s): {', '.join(missing)}"}
    problems = {
        "type": f"must be of type {error.validator_value}",
        "maxLength": f"longer than {error.validator_value} characters",
        "minLength": f"shorter than {error.validator_value} characters",
        "maximum": f"larger than {error.validator_value}",
        "minimum": f"smaller than {error.validator_value}",
        "maxItems": f"more than {error.validator_value} items",
        "minItems": f"fewer than {error.validator_value} items",
        "pattern": "has characters or a length that are not allowed",
        "enum": f"must be one of {', '.join(map(str, error.validator_value))}" if error.validator == "enum" else "",
    }
    return {"path": path, "problem": problems.get(error.validator, f"fails the '{error.validator}' rule")}
