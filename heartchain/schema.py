"""The strawberry schema, merged from every domain's types (exported to graphql/schema.graphql)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import strawberry
from strawberry.exceptions import MissingQueryError
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.base import get_object_definition
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.await_maybe import await_maybe

from graphql import DocumentNode, GraphQLError, parse, validate
from graphql import execute as graphql_execute
from heartchain.db import import_domain_modules, load_entry_kinds
from heartchain.direct_resolvers import resolve_mutations_directly
from heartchain.errors import HeartchainError
from heartchain.executor import PlainExecutor, remember
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
        self.execution_context.graphql_document = prepared_document(self.execution_context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.pre_execution_errors = validation_errors(context)
        yield


_MASK = PreparedDocuments()


def prepared_document(query: str | None) -> DocumentNode:
    """The parsed `query`, once per distinct text; a GraphQLError (too many tokens, bad syntax)
    is raised, never cached."""
    text = query or ""
    document = _DOCUMENTS.get(text)
    if document is None:
        document = parse(text, max_tokens=MAX_TOKENS)
        remember(_DOCUMENTS, text, document)
    return document


def validation_errors(context: ExecutionContext) -> list[GraphQLError] | None:
    """The errors of validating the context's document (with the depth and alias limits), once
    per distinct text."""
    rules = (*context.validation_rules, *_LIMIT_RULES)
    key = (context.query or "", len(rules))
    errors = _VALIDATED.get(key)
    if errors is None and context.graphql_document is not None:
        errors = validate(context.schema._schema, context.graphql_document, rules)
        remember(_VALIDATED, key, errors)
    return errors


class HeartchainSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Log only the unexpected: a refused query (bad cursor, too deep) is the client's
        answer, not a traceback in the server's log."""
        super().process_errors([e for e in errors if should_mask_error(e)], execution_context)

    async def execute(
            self, query: str | None, variable_values: dict[str, Any] | None = None,
            context_value: Any | None = None, root_value: Any | None = None,
            operation_name: str | None = None,
            allowed_operation_types: Iterable[OperationType] | None = None,
            operation_extensions: dict[str, Any] | None = None) -> ExecutionResult:
        """strawberry's `execute` (every HTTP query and mutation) with what PreparedDocuments
        does inline: the same parse, validation, masking and error logging, and the same
        exceptions for the view to answer 400, without the extension runner, whose four phase
        context managers cost 50-90 µs a request, twice graphql-core's execution of a small
        query (bench/load.py's floor). Subscriptions still run through the extension."""
        context = self._create_execution_context(
            query=query, allowed_operation_types=(allowed_operation_types
                                                  or DEFAULT_ALLOWED_OPERATION_TYPES),
            variable_values=variable_values, context_value=context_value,
            root_value=root_value, operation_name=operation_name,
            operation_extensions=operation_extensions)
        if not query:
            raise MissingQueryError
        try:
            context.graphql_document = prepared_document(query)
        except GraphQLError as error:
            return self._answer(context, [error], pre_execution=True)
        try:
            operation_type = context.operation_type
        except RuntimeError as error:
            raise CannotGetOperationTypeError(context.operation_name) from error
        if operation_type not in context.allowed_operations:
            raise InvalidOperationTypeError(operation_type)
        if errors := validation_errors(context):
            return self._answer(context, errors, pre_execution=True)
        try:
            result = await await_maybe(graphql_execute(
                self._schema, context.graphql_document, root_value=root_value,
                variable_values=variable_values, operation_name=context.operation_name,
                context_value=context_value,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                executor_class=PlainExecutor,
                operation_extensions=operation_extensions))
        except Exception as exc:  # strawberry's answer: the error, masked
            failure = exc if isinstance(exc, GraphQLError) else GraphQLError(
                str(exc), original_error=exc)
            return self._answer(context, [failure], pre_execution=True)
        return self._answer(context, result.errors, data=result.data)

    def _answer(self, context: ExecutionContext, errors: list[GraphQLError] | None, *,
                data: dict[str, Any] | None = None, pre_execution: bool = False
                ) -> ExecutionResult:
        if errors:
            context.pre_execution_errors = errors
            self._process_errors(errors, context)
            errors = _MASK._process_errors(errors)
        result = (PreExecutionError(data=None, errors=errors) if pre_execution
                  else ExecutionResult(data=data, errors=errors or None))
        context.result = result
        return result


class MemoisedNames(NameConverter):
    """strawberry's names, each converted once: it camel-cases every argument's Python name on
    every resolver call (a regular expression per argument per request)."""

    def __init__(self) -> None:
        super().__init__()
        self._converted: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._converted.get(name)
        if converted is None:
            converted = self._converted[name] = super().apply_naming_config(name)
        return converted


schema = HeartchainSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(scalar_map=SCALARS, name_converter=MemoisedNames()),
    extensions=[
        # Factories: a fresh extension per request; the document caches live on the class.
        PreparedDocuments,
    ],
)

# After the schema is built: its Mutation fields' GraphQL resolvers are what this replaces.
DIRECT_MUTATIONS = resolve_mutations_directly(schema, Mutation)
