"""Registry of pydantic models describing event payloads.

An addon registers the payload model of an event type code once, at import
time; the catalog then shows its JSON schema and :func:`validate` checks
payloads against it when events are emitted.
"""

_REGISTRY = {}


def register(code, version=1):
    """Class decorator: ``@register("approval.requested")`` on a pydantic model."""

    def decorator(model):
        _REGISTRY[(code, int(version))] = model
        return model

    return decorator


def get(code, version=1):
    return _REGISTRY.get((code, int(version)))


def json_schema(code, version=1):
    model = get(code, version)
    return model.model_json_schema() if model is not None else None


def validate(code, version, payload):
    """Validate ``payload`` when a model is registered; return the (possibly coerced) dict.

    Raises ``pydantic.ValidationError`` on a payload that does not fit.
    """
    model = get(code, version)
    if model is None:
        return payload
    return model.model_validate(payload).model_dump(mode="json")


def registered_codes():
    return sorted(_REGISTRY)
