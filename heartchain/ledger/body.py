"""Entry bodies, declared: the body class is the kind.

A kind is a frozen `msgspec.Struct` that names itself and its signers::

    >>> class Thanks(Body):
    ...     KIND = "example.thanks"
    ...     SIGNERS = ("charity",)
    ...     charity: Address
    ...     quantity: Quantity
    ...     note: Text | None = None
    >>> body = decode(Thanks, {"charity": "hc1" + "q" * 59, "quantity": 0})
    Traceback (most recent call last):
    ...
    heartchain.errors.ValidationError: example.thanks: quantity: 0 is outside 1..9007199254740991

msgspec checks the shape (exact keys, types, ranges, patterns) in C; `decode` turns its error,
with its path (`$.quantity`), into our `ValidationError(field=…)`; cross-field rules go in
`__post_init__`. Addresses also get their checksum checked (a pattern cannot). Built in code, a
body is not checked until `decode` (the one write path decodes what it signs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    TypeVar,
    get_args,
    get_origin,
    get_type_hints,
)

import msgspec
import msgspec.inspect as mi
import msgspec.json

from heartchain import keys
from heartchain.errors import ValidationError
from heartchain.keys import verify_key_of

__all__ = [
    "MAX_QUANTITY", "Address", "Body", "Fen", "Grams", "Hex32", "Index", "Label", "Quantity",
    "Slug", "Text", "Time", "body_class", "body_classes", "decode", "wire",
]

MAX_QUANTITY = 2**53 - 1


class _IsAddress:
    """Marks `Address` fields so `decode` checks their bech32m checksum after the pattern."""

    def __repr__(self) -> str:
        return "IS_ADDRESS"


IS_ADDRESS = _IsAddress()

# \A…\Z, not ^…$: `$` also matches before a trailing newline ("x\n").
Address = Annotated[keys.Address, msgspec.Meta(pattern=r"\Ahc1[02-9ac-hj-np-z]{59}\Z"),
                    IS_ADDRESS]
Slug = Annotated[str, msgspec.Meta(pattern=r"\A[a-z0-9][a-z0-9_.:-]{0,63}\Z")]
Hex32 = Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-f]{64}\Z")]
# The log's own time format (ledger.entries.format_time): millisecond UTC, 24 characters;
# [0-9], not \d, which also matches other scripts' digits.
Time = Annotated[str, msgspec.Meta(
    pattern=r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
Index = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]
Fen = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
Grams = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]

_BY_NAME: dict[str, type[Body]] = {}


class Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True,
           omit_defaults=True):
    """An entry body. A kind sets `KIND` (its name on the log) and `SIGNERS` (the fields whose
    addresses sign it, in order); a class without `KIND` is a nested value or a shared base.
    Optional fields default to None and are left out of the wire form when None."""

    KIND: ClassVar[str] = ""
    SIGNERS: ClassVar[tuple[str, ...]] = ()
    _ADDRESS_FIELDS: ClassVar[tuple[tuple[str, str, str], ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._ADDRESS_FIELDS = None
        kind = cls.__dict__.get("KIND")
        if not kind:
            return
        if kind in _BY_NAME and _BY_NAME[kind].__qualname__ != cls.__qualname__:
            raise RuntimeError(f"entry kind {kind} declared twice")
        _BY_NAME[kind] = cls

    def signers(self) -> list[str]:
        return [getattr(self, name) for name in self.SIGNERS]


B = TypeVar("B", bound=Body)


def body_class(kind: str) -> type[Body]:
    try:
        return _BY_NAME[kind]
    except KeyError:
        raise ValidationError(f"kind: unknown entry kind {kind!r}", field="kind") from None


def body_classes() -> dict[str, type[Body]]:
    return dict(_BY_NAME)


_WIRE_ENCODER = msgspec.json.Encoder()
_WIRE_DECODER = msgspec.json.Decoder()


def wire(body: Body) -> dict[str, Any]:
    """The body as the entry carries it (wire names, None-valued optional fields left out, tuples
    as lists: equal to the same body read back from the log, which is how it is made: through
    JSON, in C, faster than walking `to_builtins` for tuples)."""
    built: dict[str, Any] = _WIRE_DECODER.decode(_WIRE_ENCODER.encode(body))
    return built


def decode(cls: type[B], raw: Any) -> B:
    """`raw` (a JSON object) as a `cls`, or a ValidationError naming the field at fault."""
    kind = cls.KIND or cls.__name__
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{kind}: body must be an object", field="body")
    try:
        body = msgspec.convert(raw, cls)
    except msgspec.ValidationError as exc:
        raise _translate(cls, kind, raw, str(exc)) from None
    _check_addresses(body, kind, "")
    return body


# How a field holds addresses: one (or None), a list of them, or inside nested bodies.
_ONE, _MANY, _NESTED = "one", "many", "nested"


def _check_addresses(body: Body, kind: str, prefix: str) -> None:
    """The bech32m checksum of every address in `body`, nested bodies included (a pattern
    checks only the characters)."""
    for name, shown, holds in _address_fields(type(body)):
        value = getattr(body, name)
        if value is None:
            continue
        where = f"{prefix}{shown}"
        if holds == _NESTED:
            for position, inner in enumerate(value if isinstance(value, (list, tuple))
                                             else (value,)):
                step = f"[{position}]" if isinstance(value, (list, tuple)) else ""
                _check_addresses(inner, kind, f"{where}{step}.")
            continue
        for address in (value if holds == _MANY else (value,)):
            try:
                verify_key_of(address)
            except ValidationError as exc:
                top = prefix.split(".")[0].split("[")[0] if prefix else shown
                raise ValidationError(f"{kind}: {where}: {exc}", field=top) from None


def _address_fields(cls: type[Body]) -> tuple[tuple[str, str, str], ...]:
    """(attribute, wire name, how it holds addresses) for each field that holds any."""
    found = cls.__dict__.get("_ADDRESS_FIELDS")
    if found is None:
        annotations = _type_hints(cls)
        listed = []
        for f in msgspec.structs.fields(cls):
            holds = _holds(annotations[f.name])
            if holds is not None:
                listed.append((f.name, f.encode_name, holds))
        found = tuple(listed)
        cls._ADDRESS_FIELDS = found
    return found


def _holds(hint: Any) -> str | None:
    origin = get_origin(hint)
    if origin is Annotated:
        return _ONE if IS_ADDRESS in hint.__metadata__ else None
    if isinstance(hint, type) and issubclass(hint, Body):
        return _NESTED if _address_fields(hint) else None
    if origin in (list, tuple):
        inner = {_holds(arg) for arg in get_args(hint) if arg is not Ellipsis}
        if _ONE in inner:
            return _MANY
        return _NESTED if _NESTED in inner else None
    # `X | None`: what X holds
    found = {_holds(arg) for arg in get_args(hint) if arg is not type(None)} - {None}
    return found.pop() if len(found) == 1 else None


def _type_hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls, include_extras=True)


_PATH = re.compile(r" - at `\$((?:\.[^.\[`]+|\[\d+\])*)`$")
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]+)`")


def _translate(cls: type[Body], kind: str, raw: Mapping[str, Any], message: str
               ) -> ValidationError:
    """msgspec's message, in the words of the log's other errors and with the field named."""
    found = _PATH.search(message)
    path = found.group(1) if found else ""
    text = message[:found.start()] if found else message
    steps = re.findall(r"\.([^.\[]+)|\[(\d+)\]", path)
    names = [name or f"[{number}]" for name, number in steps]
    if (match := _MISSING.match(text)) is not None:
        return _error(kind, [*names, match.group(1)], "is required")
    if (match := _UNKNOWN.match(text)) is not None:
        where = ".".join(names).replace(".[", "[")
        prefix = f"{where}: " if where else ""
        return ValidationError(f"{kind}: {prefix}unknown field(s) {match.group(1)}",
                               field=names[0] if names else match.group(1))
    if len(names) == 1:
        value = raw.get(names[0])
        field_type, hint = _field_type(cls, names[0])
        better = _describe(field_type, value, _choices(hint))
        if better is not None:
            return _error(kind, names, better)
    return _error(kind, names, text[0].lower() + text[1:] if text else "is invalid")


def _error(kind: str, names: list[str], message: str) -> ValidationError:
    where = ".".join(names).replace(".[", "[")
    return ValidationError(f"{kind}: {where}: {message}" if where else f"{kind}: {message}",
                           field=names[0] if names else None)


def _field_type(cls: type[Body], name: str) -> tuple[Any, Any]:
    """msgspec's view of the field named `name` on the wire, and its annotation."""
    for f in mi.type_info(cls).fields:  # type: ignore[union-attr]
        if f.encode_name == name:
            return f.type, _type_hints(cls).get(f.name)
    return None, None


def _choices(hint: Any) -> tuple[Any, ...] | None:
    """A Literal's values in their declared order (msgspec's own are a set)."""
    if get_origin(hint) is Literal:
        return get_args(hint)
    for arg in get_args(hint):
        found = _choices(arg)
        if found is not None:
            return found
    return None


def _describe(field_type: Any, value: Any, choices: tuple[Any, ...] | None) -> str | None:
    """The old readers' wording for the common refusals (tests and clients match on them)."""
    if isinstance(field_type, mi.UnionType):
        inner = [t for t in field_type.types if not isinstance(t, mi.NoneType)]
        field_type = inner[0] if len(inner) == 1 else field_type
    if isinstance(field_type, mi.IntType):
        if type(value) is not int:
            return f"must be an integer, got {type(value).__name__}"
        low = field_type.ge if field_type.ge is not None else "…"
        high = field_type.le if field_type.le is not None else "…"
        return f"{value} is outside {low}..{high}"
    if isinstance(field_type, mi.LiteralType):
        return f"{value!r} is not one of {', '.join(map(str, choices or field_type.values))}"
    if isinstance(field_type, mi.StrType):
        if not isinstance(value, str):
            return "must be a string"
        low, high = field_type.min_length or 0, field_type.max_length
        if (high is not None and not low <= len(value) <= high) or len(value) < low:
            return f"length must be {low}..{high if high is not None else '…'}"
        if field_type.pattern is not None:
            return f"{value!r} is not of the form {field_type.pattern}"
    if isinstance(field_type, mi.BoolType) and not isinstance(value, bool):
        return "must be true or false"
    return None


def literal_values(choice: Any) -> tuple[str, ...]:
    """The values of a `Literal[...]` alias (for services that list the choices)."""
    if get_origin(choice) is Literal:
        return tuple(get_args(choice))
    raise TypeError(f"{choice!r} is not a Literal")
