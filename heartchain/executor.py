"""graphql-core's plain executor, keeping between requests what only the cached document decides.

A document's text is parsed once (heartchain.schema.prepared_document), so the same document
object comes back with every request that sends that text. What executing one of its
operations needs before it reads a variable is the same for each of those requests: which
operation and fragments, its variables' types, and (when nothing selects on a variable:
no @skip, @include or @defer, no fragment variables) the fields each selection set collects.
graphql-core works all of that out again per request; for a donation it was about a tenth of
the server's CPU. `PreparedOperation` keeps it; every case it does not cover (an omitted or
ill-typed variable, a directive, an unknown operation) takes graphql-core's own path, so its
answers and errors are graphql-core's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

from graphql.execution import Executor
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetails,
    FragmentDetails,
    collect_fields,
)
from graphql.execution.executor import default_field_resolver, default_type_resolver
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    coerce_input_value,
    input_is_nested_too_deeply,
)
from graphql.language import (
    FragmentDefinitionNode,
    Node,
    OperationDefinitionNode,
    OperationType,
    Visitor,
    visit,
)
from graphql.pyutils import Undefined
from graphql.type import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    assert_valid_schema,
    is_leaf_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql import DocumentNode, GraphQLError

# Distinct query texts kept (their documents, validation results and prepared operations).
DOCUMENT_CACHE = 256


def remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    """Keep `value` in a per-document cache, evicting the oldest past DOCUMENT_CACHE."""
    cache[key] = value
    if len(cache) > DOCUMENT_CACHE:
        cache.popitem(last=False)


class _FindsDirectives(Visitor):
    found = False

    def enter_directive(self, *_: Any) -> None:
        self.found = True


def uses_directives(*nodes: Node) -> bool:
    finder = _FindsDirectives()
    for node in nodes:
        visit(node, finder)
    return finder.found


class PreparedOperation:
    """One operation of a cached document, as far as it does not depend on the variables."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 operation: OperationDefinitionNode) -> None:
        self.document = document  # held: see _PREPARED
        self.operation = operation
        self.fragment_definitions: dict[str, FragmentDefinitionNode] = {}
        self.fragments: dict[str, FragmentDetails] = {}
        varies = False
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                self.fragment_definitions[definition.name.value] = definition
                self.fragments[definition.name.value] = FragmentDetails(definition, None)
                varies = varies or bool(definition.variable_definitions)
        signatures = [get_variable_signature(schema, node)
                      for node in operation.variable_definitions or ()]
        # A variable of an unknown type: graphql-core's path reports it.
        self.signatures: list[GraphQLVariableSignature] | None = (
            None if any(isinstance(s, GraphQLError) for s in signatures)
            else signatures)  # type: ignore[assignment]
        self.usable = self.signatures is not None and not varies
        # None: what a selection set selects depends on the variables, so nothing is shared.
        self.collections: dict[Any, CollectedFields] | None = None if (
            varies or uses_directives(operation, *self.fragment_definitions.values())) else {}
        self.root: tuple[GraphQLObjectType, CollectedFields] | None = None

    def coerce(self, inputs: dict[str, Any]) -> VariableValues | None:
        """The variables as graphql-core's coercion gives them when every one is given and
        valid; None otherwise (defaults and errors are graphql-core's to work out)."""
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        for signature in self.signatures or ():
            value = inputs.get(signature.name, Undefined)
            if value is Undefined or input_is_nested_too_deeply(value, signature.type):
                return None
            result = coerce_input_value(value, signature.type)
            if result is Undefined:
                return None
            sources[signature.name] = VariableValueSource(signature, value)
            coerced[signature.name] = result
        return VariableValues(sources, coerced)


# Each entry holds its document, so the document's id is not reused while the entry lives.
_PREPARED: OrderedDict[tuple[int, str | None], PreparedOperation] = OrderedDict()


def prepared_operation(schema: GraphQLSchema, document: DocumentNode,
                       operation_name: str | None) -> PreparedOperation | None:
    key = (id(document), operation_name)
    entry = _PREPARED.get(key)
    if entry is not None:
        return entry if entry.usable else None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                  and (operation_name is None or (d.name and d.name.value == operation_name))]
    if len(operations) != 1:  # none, or several without a name to choose: graphql-core's error
        return None
    entry = PreparedOperation(schema, document, operations[0])
    remember(_PREPARED, key, entry)
    return entry if entry.usable else None


class _PlainRead(NamedTuple):
    """How a field is read straight off its parent object (strawberry's resolver for a field
    without one, and no arguments)."""

    type: GraphQLLeafType | GraphQLObjectType  # a leaf is coerced, an object's sub-fields run
    nullable: bool


# Per field of a schema (held, so its id is not reused); None for every other field.
_PLAIN_READS: dict[int, tuple[GraphQLField, _PlainRead | None]] = {}


def _ignores_info(is_type_of: Any) -> bool:
    """No `is_type_of`, or strawberry's own (an isinstance test that never reads the info)."""
    return is_type_of is None or (
        getattr(is_type_of, "__module__", None) == "strawberry.schema.schema_converter"
        and getattr(is_type_of, "__qualname__", "").endswith("_get_is_type_of.<locals>.is_type_of"))


def _plain_read(field: GraphQLField) -> _PlainRead | None:
    known = _PLAIN_READS.get(id(field))
    if known is None:
        field_type, nullable = field.type, True
        if isinstance(field_type, GraphQLNonNull):
            field_type, nullable = field_type.of_type, False
        plain = getattr(field.resolve, "_is_default", False) and not field.args
        readable = plain and (is_leaf_type(field_type) or (
            isinstance(field_type, GraphQLObjectType) and _ignores_info(field_type.is_type_of)))
        known = _PLAIN_READS[id(field)] = (
            field, _PlainRead(field_type, nullable) if readable else None)  # type: ignore[arg-type]
    return known[1]


class PlainExecutor(Executor[Any]):
    """strawberry's executor (its resolve info, with the operation's extensions) on
    graphql-core's plain `Executor`: the incremental one builds execution plans for @defer and
    @stream, which this schema does not declare (graphql-core's `execute` refuses them).

    With a `PreparedOperation` it skips, per request, finding the operation, typing its
    variables and collecting its fields; a field read off its parent object (most of an
    answer: an index, a hash, a message, the object holding them) is completed without a
    resolve info, a leaf coerced and an object's sub-fields executed as graphql-core would,
    and anything but a plain value (null, an error, an awaitable) takes graphql-core's path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.operation_extensions = kwargs.pop("operation_extensions", None)
        self.prepared: PreparedOperation | None = kwargs.pop("prepared", None)
        super().__init__(*args, **kwargs)

    build_resolve_info = StrawberryGraphQLCoreExecutionContext.build_resolve_info

    @classmethod
    def build(  # graphql-core's signature: graphql.execute passes it positionally
            cls, schema: GraphQLSchema, document: DocumentNode, root_value: Any = None,
            context_value: Any = None, raw_variable_values: dict[str, Any] | None = None,
            operation_name: str | None = None, field_resolver: Any = None,
            type_resolver: Any = None, subscribe_field_resolver: Any = None,
            max_coercion_errors: int = 50, enable_early_execution: bool = False,
            middleware: Any = None, is_awaitable: Any = None, is_async_iterable: Any = None,
            **kwargs: Any) -> list[GraphQLError] | Executor:
        prepared = (None if middleware is not None
                    else prepared_operation(schema, document, operation_name))
        variable_values = None if prepared is None else prepared.coerce(
            raw_variable_values or {})
        if prepared is None or variable_values is None:
            executor = super().build(
                schema, document, root_value, context_value, raw_variable_values,
                operation_name, field_resolver, type_resolver, subscribe_field_resolver,
                max_coercion_errors, enable_early_execution, middleware, is_awaitable,
                is_async_iterable, **kwargs)
            if prepared is not None and isinstance(executor, PlainExecutor):
                executor.prepared = prepared  # the variables took graphql-core's path
            return executor
        assert_valid_schema(schema)
        return cls(schema, prepared.fragment_definitions, prepared.fragments, root_value,
                   context_value, prepared.operation, variable_values,
                   field_resolver or default_field_resolver,
                   type_resolver or default_type_resolver,
                   subscribe_field_resolver or default_field_resolver,
                   enable_early_execution, None, is_awaitable, is_async_iterable,
                   prepared=prepared, **kwargs)

    def execute_operation(self, serially: bool | None = None) -> Any:
        """graphql-core's, with the root fields collected once per prepared operation."""
        prepared = self.prepared
        if prepared is None or prepared.collections is None or self.abort_signal is not None:
            return super().execute_operation(serially)
        if prepared.root is None:
            root_type = self.schema.get_root_type(self.operation.operation)
            try:
                collected = None if root_type is None else collect_fields(
                    self.schema, self.fragments, self.variable_values, root_type,
                    self.operation, self.hide_suggestions)
            except RecursionError:
                collected = None
            if root_type is None or collected is None:
                return super().execute_operation(serially)  # its errors
            prepared.root = (root_type, collected)
        root_type, (grouped_field_set, new_defer_usages, _) = prepared.root
        try:
            result = self.execute_collected_root_fields(
                root_type, self.root_value, grouped_field_set,
                self.operation.operation == OperationType.MUTATION if serially is None
                else serially, new_defer_usages)
            if self.is_awaitable(result):
                return self._completed(result)
        except GraphQLError as error:
            self.collected_errors.add(error, None)
            return self.finish(self.build_response(None))
        return self.finish(self.build_response(result))  # type: ignore[arg-type]

    async def _completed(self, result: Any) -> Any:
        try:
            data = await result
        except GraphQLError as error:
            self.collected_errors.add(error, None)
            return self.build_response(None)
        except Exception:
            await self.cancel_incremental_work()
            self.run_async_work_finished_hook()
            raise
        return self.build_response(data)

    def collect_subfields(self, return_type: GraphQLObjectType,
                          field_details_list: list[FieldDetails]) -> CollectedFields:
        collections = None if self.prepared is None else self.prepared.collections
        if collections is None:
            return super().collect_subfields(return_type, field_details_list)
        # The field nodes are the cached document's own, so their identity is the key.
        key = (return_type, *(id(details.node) for details in field_details_list))
        collected = collections.get(key)
        if collected is None:
            collected = super().collect_subfields(return_type, field_details_list)
            collections[key] = collected
        return collected

    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_details_list: list[FieldDetails], path: Any,
                      position_context: Any) -> Any:
        name = field_details_list[0].node.name.value
        if self.middleware_manager is None:
            if name == "__typename":  # graphql-core's meta field: the parent type's name
                return parent_type.name
            field = parent_type.fields.get(name)
            read = None if field is None else _plain_read(field)
            if read is not None:
                try:
                    value = field.resolve(source, None)
                except Exception:  # graphql-core's path below reports it
                    value = Undefined
                if value is None and read.nullable:
                    return None
                if (value is not None and value is not Undefined
                        and not isinstance(value, Exception) and not self.is_awaitable(value)):
                    read_type = read.type
                    if isinstance(read_type, GraphQLObjectType):
                        is_type_of = read_type.is_type_of  # strawberry's: it reads no info
                        if is_type_of is None or is_type_of(value, None):  # type: ignore[arg-type]
                            return self._complete_object_read(
                                field, read_type, field_details_list, path, value,
                                position_context)
                    else:
                        try:
                            coerced = read_type.coerce_output_value(value)
                        except Exception:
                            coerced = None
                        if coerced is not None and coerced is not Undefined:
                            return coerced
        return super().execute_field(parent_type, source, field_details_list, path,
                                     position_context)

    def _complete_object_read(self, field: GraphQLField, object_type: GraphQLObjectType,
                              field_details_list: list[FieldDetails], path: Any, value: Any,
                              position_context: Any) -> Any:
        """graphql-core's execute_field and complete_value for an object read off its parent:
        its sub-fields executed, an error handled as that field's, with no resolve info."""
        try:
            completed = self.collect_and_execute_subfields(
                object_type, field_details_list, path, value, position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def awaited() -> Any:
            try:
                return await completed
            except Exception as raw_error:
                self.handle_field_error(raw_error, field.type, field_details_list, path)
                return None

        return awaited()
