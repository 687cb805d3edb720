"""A service's refusal of a form, shown next to the form's fields.

Every console form turns an InvalidArgument's field violations into `{form field: message}`
for the macros (errors_summary, input, select...): one message per field, the first; a
violation on a field the form does not show goes on `fallback`; a refusal with no violation
is written on `fallback` as its detail. Each page says how the service's field names map to
its inputs: a mapping, a set of names shown as they are, or the names' first segment
(`audience.contact_ids[3]` -> `audience`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from meshkit.errors import DomainError


def top_level(field: str) -> str:
    """`filters[2].min` -> `filters`; `audience.name` -> `audience`."""
    return field.split(".", 1)[0].split("[", 1)[0]


def form_errors(
    error: DomainError,
    fallback: str,
    names: Mapping[str, str] | Collection[str] | Callable[[str], str] | None = None,
    *,
    say_field: bool = False,
) -> dict[str, str]:
    """Form field -> message for `error`'s violations.

    `names`: a mapping (service field -> form field), a collection of the form's fields
    (others go on `fallback`), a function of the service's field name, or None (the
    service's field as it is, `fallback` when empty). `say_field` starts each message with
    the service's field name (where the form field's label would not name it).
    """
    errors: dict[str, str] = {}
    for violation in error.violations or ():
        name = _name(violation.field, names) or fallback
        message = (
            f"{violation.field}: {violation.description}" if say_field else violation.description
        )
        errors.setdefault(name, message)
    if not errors:
        errors[fallback] = error.detail
    return errors


def _name(
    field: str, names: Mapping[str, str] | Collection[str] | Callable[[str], str] | None
) -> str:
    if names is None:
        return field
    if isinstance(names, Mapping):
        return str(names.get(field, ""))
    if callable(names):
        return names(field)
    return field if field in names else ""
