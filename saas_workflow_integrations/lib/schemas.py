"""Registry of named pydantic models that inbound webhook sources validate against."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

_REGISTRY = {}


class SchemaError(ValueError):
    """Payload rejected; ``errors`` is a short JSON-safe list of problems."""

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = errors or []


def register(name, label=None):
    """Class decorator adding a pydantic model to the registry under ``name``."""

    def decorator(model):
        if name in _REGISTRY and _REGISTRY[name][0] is not model:
            raise ValueError(f"schema {name!r} is already registered")
        _REGISTRY[name] = (model, label or name)
        return model

    return decorator


def get(name):
    try:
        return _REGISTRY[name][0]
    except KeyError as exc:
        raise KeyError(f"unknown inbound schema {name!r}") from exc


def choices():
    """``[(name, label)]`` for a selection field."""
    return sorted(((name, label) for name, (_model, label) in _REGISTRY.items()), key=lambda c: c[0])


def validate(name, data, max_errors=10):
    """Validate ``data`` (already parsed JSON); return the model instance."""
    model = get(name)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in err.get("loc", ())), "msg": err.get("msg", "")}
            for err in exc.errors()[:max_errors]
        ]
        raise SchemaError(f"payload does not match schema {name!r}", errors) from None


_Code = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")


@register("json_object", "Any JSON object")
class AnyObject(BaseModel):
    model_config = ConfigDict(extra="allow")


@register("event", "Event: type + data object")
class InboundEvent(BaseModel):
    """Generic event: ``{"type": "order.paid", "data": {...}}`` (more keys allowed)."""

    model_config = ConfigDict(extra="allow")

    type: str = _Code
    data: dict[str, Any] = Field(default_factory=dict)


@register("standard_webhook", "Standard Webhooks envelope")
class StandardWebhookEnvelope(BaseModel):
    """Payload as sent by Standard Webhooks senders (this suite included)."""

    model_config = ConfigDict(extra="allow")

    type: str = _Code
    timestamp: str = Field(min_length=10, max_length=40)
    data: dict[str, Any]


Scalar = str | int | bool | None


@register("record_update", "Record update: model, id, values")
class RecordUpdate(BaseModel):
    """``{"model": "res.partner", "id": 7, "values": {"ref": "X-1"}}`` (flat scalar values)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9_.]+$")
    id: int = Field(gt=0)
    values: dict[str, Scalar] = Field(default_factory=dict, max_length=100)
    action: Literal["write"] = "write"
