"""What one GraphQL operation may cost the server, priced from its document and the schema.

Before anything executes, the operation is walked with fragments resolved and each field is
priced by the items it may return:

    cost(field)      = weight(field) + items(field) × (ITEM + cost(its selections))   paged field
                     = weight(field) + cost(its selections)                              other field
    cost(operation)  = 1 + 2 per top-level mutation field + ⌈Σ cost(top-level fields)⌉

items(field) is the field's `first:`/`last:` (literal or variable), else the schema's default
page size for it; ITEM is 1/50 of a unit (so a 100-item page of scalars costs 2); weights are
EXPENSIVE_FIELDS (0 for the rest). A unit is roughly a millisecond of server time: a trivial
query costs 1, an inclusion proof 2. Costs are exact integers (hundredths, internally).

Unpaged lists count once: their length is bounded by the page above them or by the data
(a checkpoint's cosignatures, an entry's signers). Inline fragments on a union's members are
summed, an over-estimate. A fragment that spreads itself is counted once (validation refuses
it anyway); each fragment is priced once per type, so nesting fragments cannot make the walk
itself expensive.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    get_named_type,
    parse,
)

CENTS = 100  # costs are counted in hundredths of a unit, so sums are exact
ITEM = 2  # hundredths per item a paged field may return
MUTATION_COST = 2
DEFAULT_PAGE = 100  # a paged field with no default page size in the schema
MAX_PAGE = 100_000
MAX_TOKENS = 2_000  # as the schema's MaxTokensLimiter: longer documents are refused there
EXPENSIVE_FIELDS: Mapping[str, int] = {
    "donationJourney": 10,  # a donation's lots down to every delivery
    "period": 10,  # a period's notice: its cases and member counts
    "consistencyProof": 5,  # reads O(log n) tiles at two sizes
    "member": 3,  # hearts, donations, consents, checks
    "membership": 3,  # shares with Merkle proofs
    "receipt": 3,  # an inclusion proof, the witnessed checkpoint and its cosignatures
    "inclusionProof": 2,  # O(log n) tiles (about 2 ms measured for a proof at 10^4 entries)
    "entries": 2,
}
PAGE_ARGUMENTS = ("first", "last")


def operation_cost(query: str, variables: Mapping[str, Any] | None = None,
                   operation_name: str | None = None, *,
                   schema: GraphQLSchema | None = None) -> int:
    """The cost of one request's operation (all operations when no name is given, as the
    server will refuse an ambiguous document anyway); 1 if it does not parse."""
    the_schema = schema or _schema()
    # A document whose walk reads no variable (a donation, a check: no page argument) has one
    # price whatever its variables: known from its text alone, without walking or keying.
    fixed = _FIXED_PRICES.get((query, operation_name, the_schema))
    if fixed is not None:
        return fixed
    document = _parse(query)
    if document is None:
        return 1
    operations = _operations(document, operation_name)
    # The walk reads only the variables that size a page, so the cost is a function of the
    # document and those values: priced once per distinct (document, page sizes), not per
    # request (a donation's signature and amounts never change its price).
    sizes = []
    reads_variables = False
    for i, operation in enumerate(operations):
        given = _given(operation, variables)
        names = _page_variables(the_schema, document, operation, (query, operation_name, i))
        reads_variables = reads_variables or bool(names)
        sizes.append(tuple(_whole(given.get(name)) for name in names))
    key = (query, operation_name, the_schema, tuple(sizes))
    cost = _PRICES.get(key)
    if cost is None:
        cost = _price(the_schema, document, operations, variables)
        _PRICES[key] = cost
        if len(_PRICES) > _PRICE_CACHE:
            _PRICES.popitem(last=False)
    if not reads_variables:
        _FIXED_PRICES[(query, operation_name, the_schema)] = cost
        if len(_FIXED_PRICES) > _PRICE_CACHE:
            _FIXED_PRICES.popitem(last=False)
    return cost


_PRICE_CACHE = 512  # as _parse's: the query texts kept are mostly the same objects
_PRICES: OrderedDict[tuple[Any, ...], int] = OrderedDict()
_PAGE_VARIABLES: dict[tuple[Any, ...], tuple[str, ...]] = {}
_FIXED_PRICES: OrderedDict[tuple[str, str | None, GraphQLSchema], int] = OrderedDict()


def _operations(document: DocumentNode, operation_name: str | None
                ) -> list[OperationDefinitionNode]:
    return [operation for operation in document.definitions
            if isinstance(operation, OperationDefinitionNode)
            and (operation_name is None
                 or (operation.name is not None and operation.name.value == operation_name))]


def _given(operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
           ) -> dict[str, Any]:
    """The variables as the walk sees them: a variable left out takes the operation's default
    for it ($first: Int = 50)."""
    given = {d.variable.name.value: d.default_value.value
             for d in operation.variable_definitions or ()
             if isinstance(d.default_value, IntValueNode)}
    given.update(variables or {})
    return given


def _page_variables(schema: GraphQLSchema, document: DocumentNode,
                    operation: OperationDefinitionNode, key: tuple[str, str | None, int]
                    ) -> tuple[str, ...]:
    """The variables a page argument of the operation names, whatever their values (the walk's
    path through the document does not depend on them): found by walking it once."""
    names = _PAGE_VARIABLES.get((*key, schema))
    if names is None:
        read = _ReadVariables()
        walk = _Walk(schema, document, read)
        walk.selections(walk.root(operation.operation), operation.selection_set, frozenset())
        names = tuple(sorted(read.read))
        if len(_PAGE_VARIABLES) > _PRICE_CACHE:
            _PAGE_VARIABLES.clear()
        _PAGE_VARIABLES[(*key, schema)] = names
    return names


class _ReadVariables(dict[str, Any]):
    """An empty variable map that remembers which names the walk asked it for."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return default


def _price(schema: GraphQLSchema, document: DocumentNode,
           operations: list[OperationDefinitionNode],
           variables: Mapping[str, Any] | None) -> int:
    cost = 1
    spent = 0
    for operation in operations:
        walk = _Walk(schema, document, _given(operation, variables))
        root = walk.root(operation.operation)
        if operation.operation is OperationType.MUTATION:
            cost += MUTATION_COST * walk.count_fields(root, operation.selection_set)
        spent += walk.selections(root, operation.selection_set, frozenset())
    return cost + -(-spent // CENTS)


@cache
def _schema() -> GraphQLSchema:
    from heartchain.schema import schema  # the full schema imports every domain: only when used

    return schema._schema


@lru_cache(maxsize=512)
def _parse(query: str) -> DocumentNode | None:
    try:
        return parse(query, no_location=True, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None


class _Walk:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.priced: dict[tuple[str, str | None], int] = {}

    def root(self, operation: OperationType) -> GraphQLNamedType | None:
        return {OperationType.QUERY: self.schema.query_type,
                OperationType.MUTATION: self.schema.mutation_type,
                OperationType.SUBSCRIPTION: self.schema.subscription_type}[operation]

    def count_fields(self, parent: GraphQLNamedType | None, selections: SelectionSetNode) -> int:
        """Top-level fields, through fragments (each top-level mutation field is one write)."""
        count = 0
        for node in selections.selections:
            if isinstance(node, FieldNode):
                count += 1
            elif isinstance(node, InlineFragmentNode):
                count += self.count_fields(parent, node.selection_set)
            elif isinstance(node, FragmentSpreadNode) and node.name.value in self.fragments:
                # A spread cycle is invalid; a bounded walk of one level is enough here.
                fragment = self.fragments[node.name.value]
                count += sum(1 for n in fragment.selection_set.selections
                             if isinstance(n, FieldNode))
        return count

    def selections(self, parent: GraphQLNamedType | None, selections: SelectionSetNode | None,
                   path: frozenset[str]) -> int:
        if selections is None:
            return 0
        total = 0
        for node in selections.selections:
            if isinstance(node, FieldNode):
                total += self.field(parent, node, path)
            elif isinstance(node, InlineFragmentNode):
                condition = (self.schema.get_type(node.type_condition.name.value)
                             if node.type_condition else parent)
                total += self.selections(condition, node.selection_set, path)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value, path)
        return total

    def fragment(self, name: str, path: frozenset[str]) -> int:
        fragment = self.fragments.get(name)
        if fragment is None or name in path:
            return 0
        condition = self.schema.get_type(fragment.type_condition.name.value)
        key = (name, condition.name if condition else None)
        if key not in self.priced:
            self.priced[key] = self.selections(condition, fragment.selection_set, path | {name})
        return self.priced[key]

    def field(self, parent: GraphQLNamedType | None, node: FieldNode,
              path: frozenset[str]) -> int:
        name = node.name.value
        definition = (parent.fields.get(name)
                      if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else None)
        child = get_named_type(definition.type) if definition is not None else None
        cost = EXPENSIVE_FIELDS.get(name, 0) * CENTS
        below = self.selections(child, node.selection_set, path)
        items = self.items(node, definition)
        if items is None:
            return cost + below
        return cost + items * (ITEM + below)

    def items(self, node: FieldNode, definition: GraphQLField | None) -> int | None:
        """How many items the field may return: None when it takes no page argument."""
        given = {a.name.value: a.value for a in node.arguments or ()}
        for argument in PAGE_ARGUMENTS:
            declared = definition.args.get(argument) if definition is not None else None
            if declared is None and argument not in given:
                continue
            value = given.get(argument)
            number: int | None = None
            if isinstance(value, IntValueNode):
                number = _whole(value.value)
            elif isinstance(value, VariableNode):
                number = _whole(self.variables.get(value.name.value))
            if number is None and declared is not None:
                default = declared.default_value
                number = _whole(default) if default is not Undefined else None
            return DEFAULT_PAGE if number is None else number
        return None


def _whole(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return max(0, min(number, MAX_PAGE))
