"""The strawberry schema, merged from every domain's types (exported to graphql/schema.graphql)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import strawberry
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.base import get_object_definition

from graphql import DocumentNode, GraphQLError, parse, validate
from heartchain.db import import_domain_modules, load_entry_kinds
from heartchain.errors import HeartchainError
from heartchain.gql import SCALARS, Guarded
from heartchain.ledger.types import LedgerMutation, LedgerQuery, LedgerSubscription
from heartchain.unavailable import is_unavailable

load_entry_kinds()
_DOMAIN_TYPES = import_domain_modules("types")

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000



def _collect(name: str, base: type) -> tuple[type, ...]:
    """The ledger's own root type, then each domain's (`Query`, `Mutation`, `Subscription`)."""
    return (base, *(getattr(m, name) for m in _DOMAIN_TYPES if hasattr(m, name)))


Query = merge_types("Query", _collect("Query", LedgerQuery))
Mutation = merge_types("Mutation", _collect("Mutation", LedgerMutation))
Subscription = merge_types("Subscription", _collect("Subscription", LedgerSubscription))


# Every mutation runs through Guarded (heartchain.gql.mutation), which scopes its writes to
# the field's response key: without it, an Idempotency-Key would make two aliased fields one.
for _field in get_object_definition(Mutation, strict=True).fields:
    if not any(isinstance(e, Guarded) for e in _field.extensions):
        raise TypeError(f"Mutation.{_field.python_name}: declare it with heartchain.gql.mutation")


def should_mask_error(error: GraphQLError) -> bool:
    """Mask only the unexpected: query-validation errors and our own typed errors stay readable."""
    original = error.original_error
    if original is None or isinstance(original, (HeartchainError, GraphQLError)):
        return False
    # The database being unavailable is no bug: heartchain/app.py answers it with a 503.
    if is_unavailable(original):
        return False
    # Without a path the error is not a resolver's but the document's or its variables': a
    # literal graphql-core failed to coerce (an Int past Python's 4,300-digit limit raises a
    # ValueError inside its parser). It names the input at fault, and nothing else.
    return not (error.path is None and isinstance(original, ValueError))


_LIMIT_RULES = [*QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
                *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules]

_DOCUMENT_CACHE = 256
_DOCUMENTS: OrderedDict[str, DocumentNode] = OrderedDict()
_VALIDATED: OrderedDict[tuple[str, int], list[GraphQLError]] = OrderedDict()


class PreparedDocuments(MaskErrors):
    """Parse (at most MAX_TOKENS tokens) and validate (with the depth and alias limits) each
    distinct query text once, and mask the unexpected errors (`should_mask_error`). One
    extension where five (AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache,
    MaskErrors) each wrapped every request in their own hooks; the answers are the same, the
    documents cached per process (bounded)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask_error)

    def _process_result(self, result: object) -> None:
        # MaskErrors asks isinstance() of a runtime Protocol: a slow check on every request.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query or ""
        document = _DOCUMENTS.get(query)
        if document is None:
            document = parse(query, max_tokens=MAX_TOKENS)  # a GraphQLError is not cached
            _remember(_DOCUMENTS, query, document)
        context.graphql_document = document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        rules = (*context.validation_rules, *_LIMIT_RULES)
        key = (context.query or "", len(rules))
        errors = _VALIDATED.get(key)
        if errors is None and context.graphql_document is not None:
            errors = validate(context.schema._schema, context.graphql_document, rules)
            _remember(_VALIDATED, key, errors)
        context.pre_execution_errors = errors
        yield


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    if len(cache) > _DOCUMENT_CACHE:
        cache.popitem(last=False)


class HeartchainSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Log only the unexpected: a refused query (bad cursor, too deep) is the client's
        answer, not a traceback in the server's log."""
        super().process_errors([e for e in errors if should_mask_error(e)], execution_context)


schema = HeartchainSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(scalar_map=SCALARS),
    extensions=[
        # Factories: a fresh extension per request; the document caches live on the class.
        PreparedDocuments,
    ],
)
