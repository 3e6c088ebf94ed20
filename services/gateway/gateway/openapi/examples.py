"""An example for every request body and every answer of the public document, where the service gave none:
built from the schema (a field's own ``examples``, its default, the first value of an enum, a value inside
its bounds), so that a reader of ``/docs`` sees the shape of each call filled in. A request schema that has
examples of its own (a body whose fields depend on each other, like a model's test source) keeps them."""

from __future__ import annotations

from typing import Any

DEPTH = 20  # nesting of a schema's own fields; a schema that contains itself stops there
ID_PREFIXES = {
    "dataset_id": "ds",
    "snapshot_id": "snap",
    "model_id": "model",
    "deployment_id": "dep",
    "parent_model_id": "model",
    "train_snapshot_id": "snap",
    "test_snapshot_id": "snap",
    "split_id": "split",
    "task_id": "task",
    "key_id": "key",
    "org_id": "org",
    "id": "ds",
}
ULID = "01JEX9Q4W6V8Z3T5N7R2K0M1PB"
NAMED_STRINGS = {
    "name": "reviews-v1",
    "url": "https://platform.example/v1/resource",
    "text": "The delivery was quick and the product works well.",
    "prompt": "Is this review positive? The delivery was quick.",
    "content": "Is this review positive? The delivery was quick.",
    "description": "Sentiment of product reviews",
    "column": "label",
    "input_column": "text",
    "detail": "name: String should have at least 1 character",
    "error": "InvalidRequest",
    "request_id": "req_01JEX9Q4W6V8Z3T5N7R2K0M1PB",
    "base_model": "minilm-l6",
    "key": "aml_0ff7d60edb12013a_3q8cmJ0m2W0w5l9TzB7c2Kq0vY1xR4sD",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}


STREAM_EXAMPLE = 'data: {"choices": [{"index": 0, "delta": {"content": "yes"}}]}\n\ndata: [DONE]\n'


class Examples:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def of(self, schema: dict[str, Any], name: str = "", depth: int = 0, *, request: bool = False) -> Any:
        """An example value of ``schema``; ``request``: only the fields a request must give (and those with
        examples of their own), so that it stays valid where fields exclude each other."""
        if "$ref" in schema:
            target = self.schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
            return self.of(target, name, depth, request=request)
        if "example" in schema:
            return schema["example"]
        if schema.get("examples"):
            examples = schema["examples"]
            return examples[0] if isinstance(examples, list) else next(iter(examples.values())).get("value")
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [option for option in schema[key] if option.get("type") != "null"]
                return self.of(options[0], name, depth, request=request) if options else None
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.of(part, name, depth, request=request)
                if isinstance(value, dict):
                    merged |= value
            return merged
        if "default" in schema and schema["default"] is not None and not request:
            return schema["default"]
        kind = schema.get("type")
        if depth > DEPTH:
            return {} if kind == "object" else None
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth, request)
        if kind == "array":
            return [self.of(schema.get("items", {}), name, depth + 1, request=request)]
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            return int(
                schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 1)
            )
        if kind == "number":
            low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
            high = schema.get("maximum", schema.get("exclusiveMaximum", low + 1))
            return round((low + high) / 2, 4) if high - low <= 1 else float(low) + 1.0
        if kind == "boolean":
            return bool(schema.get("default", False))
        return None

    def _object(self, schema: dict[str, Any], depth: int, request: bool) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if request and name not in required and "examples" not in sub and "example" not in sub:
                continue
            out[name] = self.of(sub, name, depth + 1, request=request)
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, dict):
            out["label"] = self.of(extra, "label", depth + 1, request=request)
        return out

    @staticmethod
    def _string(schema: dict[str, Any], name: str) -> str:
        if schema.get("format") == "date-time":
            return "2026-12-07T10:00:00Z"
        if schema.get("format") == "date":
            return "2026-12-07"
        if schema.get("format") in ("binary", "byte"):
            return "<file>"
        if name in ID_PREFIXES or name.endswith("_id"):
            return f"{ID_PREFIXES.get(name, name.removesuffix('_id'))}_{ULID}"
        return NAMED_STRINGS.get(name, "string")


def add_examples(document: dict[str, Any]) -> None:
    """Fills in the request body's and each answer's example of every operation that has none."""
    examples = Examples(document.get("components", {}).get("schemas", {}))
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            body = operation.get("requestBody", {}).get("content", {})
            for media_type, media in body.items():
                if "example" not in media and "examples" not in media:
                    media["example"] = examples.of(media.get("schema", {}), request=media_type == "application/json")
            for response in operation.get("responses", {}).values():
                for media_type, media in response.get("content", {}).items():
                    if "example" in media or "examples" in media:
                        continue
                    if media_type == "text/event-stream":
                        media["example"] = (
                            'data: {"choices": [{"index": 0, "delta": {"content": "yes"}}]}\n\ndata: [DONE]\n'
                        )
                    elif media_type.startswith("text/"):
                        media["example"] = "# Model card: reviews-v1\n..."
                    else:
                        media["example"] = examples.of(media.get("schema", {}))
