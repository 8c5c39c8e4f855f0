"""Mutations resolved straight through `Guarded`, without strawberry's per-call argument pass.

strawberry calls every resolver with a field extension through a chain it builds per call: it
converts each argument (`convert_argument` walks the argument's type, importing strawberry.relay
on every call), asks each extension to reshape the arguments, injects `self`/`info`, and folds
the extensions into partials. For a mutation whose arguments are all scalars or enums (every
one of ours but those taking input objects or lists) the conversion returns each value as it
is, so the call is the renaming of its arguments to their Python names and one call of
`Guarded` around the resolver: the same arguments, the same `Info`, the same answers. That was
a twentieth of a donation's CPU. A field this does not cover keeps strawberry's resolver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.relay.types import GlobalID
from strawberry.types.arguments import _is_leaf_type  # the test convert_argument itself makes
from strawberry.types.base import StrawberryMaybe, StrawberryOptional, get_object_definition
from strawberry.types.enum import has_enum_definition
from strawberry.types.field import StrawberryField

from graphql import GraphQLResolveInfo
from heartchain.gql import Guarded


def _passes_unchanged(type_: Any, scalar_registry: Any) -> bool:
    """Does strawberry's `convert_argument` give back a value of this type as it is? (Optional
    scalars and enums do; Maybe wraps, lists copy, input objects build, GlobalIDs decode.)"""
    while isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
        type_ = type_.of_type
    if isinstance(type_, StrawberryMaybe):
        return False
    return (_is_leaf_type(type_, scalar_registry, skip_classes=(GlobalID,))
            or has_enum_definition(type_))


def direct_resolver(field: StrawberryField, schema: strawberry.Schema
                    ) -> Callable[..., Any] | None:
    """The resolver for `field` as strawberry would run it, or None where this path would not
    be the same (another extension, an argument strawberry converts, no resolver function)."""
    resolver = field.base_resolver
    registry = schema.schema_converter.scalar_registry
    if (resolver is None or len(field.extensions) != 1
            or not isinstance(guarded := field.extensions[0], Guarded)
            or type(guarded).map_arguments is not FieldExtension.map_arguments
            or not all(_passes_unchanged(a.type, registry) for a in field.arguments)):
        return None
    config = schema.config
    names = tuple((config.name_converter.from_argument(a), a.python_name)
                  for a in field.arguments)
    passes_self = resolver.self_parameter is not None
    source_names = tuple(p.name for p in (resolver.parent_parameter, resolver.root_parameter)
                         if p is not None)
    info_name = None if resolver.info_parameter is None else resolver.info_parameter.name
    info_class = config.info_class
    # strawberry's extension_resolver takes a keyword named "info" out for the extensions and
    # puts it back for the resolver. Only the info, parent or root parameter can carry that
    # name (strawberry reserves it), so whether it does is the same for every call.
    wants_info = "info" in {*source_names, info_name}

    def call(source: Any, info: Any, **kwargs: Any) -> Any:
        if wants_info:
            kwargs["info"] = info
        return field.get_result(source, info=info, args=[source] if passes_self else [],
                                kwargs=kwargs)

    def prepare(source: Any, raw_info: GraphQLResolveInfo, given: dict[str, Any]
                ) -> tuple[Any, dict[str, Any]]:
        # strawberry's get_arguments and extension_resolver, in their order.
        info = info_class(_raw_info=raw_info, _field=field)
        kwargs = {python: given[name] for name, python in names if name in given}
        for name in source_names:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = info
        if wants_info:
            del kwargs["info"]
        return info, kwargs

    if field.is_async:
        async def resolve_async(source: Any, raw_info: GraphQLResolveInfo, **given: Any) -> Any:
            info, kwargs = prepare(source, raw_info, given)
            return await guarded.resolve_async(call, source, info, **kwargs)

        return resolve_async

    def resolve(source: Any, raw_info: GraphQLResolveInfo, **given: Any) -> Any:
        info, kwargs = prepare(source, raw_info, given)
        return guarded.resolve(call, source, info, **kwargs)

    return resolve


def resolve_mutations_directly(schema: strawberry.Schema, mutation: type) -> list[str]:
    """Give each Mutation field that `direct_resolver` covers that resolver; their names."""
    graphql_type = schema._schema.mutation_type
    if graphql_type is None:
        return []
    direct = []
    for field in get_object_definition(mutation, strict=True).fields:
        name = schema.config.name_converter.from_field(field)
        resolve = direct_resolver(field, schema)
        if resolve is not None:
            graphql_type.fields[name].resolve = resolve
            direct.append(name)
    return direct
