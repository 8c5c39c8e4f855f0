"""heartchain.executor: what it keeps between requests, and the leaf fields it reads directly,
give graphql-core's own answers, errors included."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from graphql.execution import Executor
from strawberry.schema.config import StrawberryConfig

from graphql import execute, parse
from heartchain.executor import _PREPARED, PlainExecutor
from heartchain.gql import SCALARS, Int64
from heartchain.schema import MemoisedNames


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    name: str
    count: Int64
    note: str | None
    colour: Colour
    missing: str  # set to None below: a non-null field that breaks its promise

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times



@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int = 2) -> list[Item]:
        return [Item(name=f"n{i}", count=i, note=None if i % 2 else "even",
                     colour=Colour.RED if i % 2 else Colour.BLUE,
                     missing=None if i == 1 else "here")  # type: ignore[arg-type]
                for i in range(first)]

    @strawberry.field
    def item(self, name: str, count: Int64 | None = None) -> Item:
        return Item(name=name, count=count or 0, note=None, colour=Colour.RED, missing="m")


PLAIN = strawberry.Schema(query=Query, config=StrawberryConfig(
    scalar_map=SCALARS, name_converter=MemoisedNames()))

QUERIES: list[tuple[str, dict[str, Any] | None, str | None]] = [
    ("{ items(first: 3) { __typename name count note colour shout(times: 2) } }", None, None),
    ("{ items(first: 3) { name missing } }", None, None),  # null in a non-null leaf: an error
    ("query ($n: String!, $c: Int64) { item(name: $n, count: $c) { name count } }",
     {"n": "x", "c": 7}, None),
    ("query ($n: String!, $c: Int64) { item(name: $n, count: $c) { name count } }",
     {"n": "x"}, None),  # an omitted variable: graphql-core's path
    ("query ($n: String! = \"d\") { item(name: $n) { name } }", {}, None),  # a default
    ("query ($n: String!) { item(name: $n) { name } }", {"n": 5}, None),  # ill-typed
    ("query ($n: String!) { item(name: $n) { name } }", {}, None),  # required, missing
    ("query ($c: Int64!) { item(name: \"a\", count: $c) { count } }", {"c": 2**60}, None),
    ("query A { items { name } } query B { items { colour } }", None, "B"),
    ("query A { items { name } } query B { items { colour } }", None, None),  # which one?
    ("query A { items { name } }", None, "C"),  # no such operation
    ("query ($all: Boolean!) { items { name note @include(if: $all) } }", {"all": False}, None),
    ("{ items { ...F } } fragment F on Item { name c: count }", None, None),
]


@pytest.mark.parametrize(("query", "variables", "operation"), QUERIES)
def test_plain_executor_answers_as_graphql_core(query: str, variables: dict[str, Any] | None,
                                                operation: str | None) -> None:
    document = parse(query)  # the same object for every request, as the document cache does
    expected = execute(PLAIN._schema, document, variable_values=variables,
                       operation_name=operation, executor_class=Executor)
    for _ in range(3):
        answer = execute(PLAIN._schema, document, variable_values=variables,
                         operation_name=operation, executor_class=PlainExecutor)
        assert answer.data == expected.data
        assert [e.formatted for e in answer.errors or ()] == [
            e.formatted for e in expected.errors or ()]


def test_a_prepared_operation_is_kept_only_while_it_applies() -> None:
    document = parse("{ items { name } }")
    execute(PLAIN._schema, document, executor_class=PlainExecutor)
    prepared = _PREPARED[(id(document), None)]
    assert prepared.root is not None and prepared.collections
    skipping = parse("{ items { name @skip(if: true) } }")
    execute(PLAIN._schema, skipping, executor_class=PlainExecutor)
    assert _PREPARED[(id(skipping), None)].collections is None


def test_a_field_read_that_raises_is_graphql_cores_error() -> None:
    @strawberry.type
    class Holder:
        broken: str

    class Raising:
        @property
        def broken(self) -> str:
            raise ValueError("no such thing")

    document = parse("{ broken }")
    schema = strawberry.Schema(query=Holder)
    expected = execute(schema._schema, document, root_value=Raising(), executor_class=Executor)
    answer = execute(schema._schema, document, root_value=Raising(),
                     executor_class=PlainExecutor)
    assert expected.errors and "no such thing" in expected.errors[0].message
    assert [e.formatted for e in answer.errors or ()] == [e.formatted for e in expected.errors]


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Tag(Named):  # implements an interface: strawberry gives it an is_type_of
    pass


@strawberry.type
class Late:
    @strawberry.field
    async def word(self) -> str:
        return "late"

    @strawberry.field
    async def fails(self) -> str:
        raise ValueError("late failure")


@strawberry.type
class Owner:
    item: Item  # objects read straight off their parent, completed without a resolve info
    spare: Item | None
    tag: Tag
    late: Late


def _owners() -> list[Owner]:
    items = Query().items(first=3)
    return [Owner(item=items[i], spare=None if i else items[2],
                  tag=Tag(name="t") if i != 2 else items[0],  # type: ignore[arg-type]
                  late=Late()) for i in range(3)]


@strawberry.type
class OwnerQuery:
    @strawberry.field
    def owners(self) -> list[Owner]:
        return _owners()

    @strawberry.field
    def maybe_owners(self) -> list[Owner | None]:
        return list(_owners())


OWNERS = strawberry.Schema(query=OwnerQuery, config=StrawberryConfig(
    scalar_map=SCALARS, name_converter=MemoisedNames()))


@pytest.mark.parametrize("query", [
    "{ owners { item { name count } spare { name colour } } }",
    "{ maybeOwners { item { name missing } } }",  # a null propagates through the object
    "{ owners { item { name missing } } }",  # ... up to the list's non-null items
    "{ maybeOwners { tag { name } } }",  # the wrong type for an is_type_of: its error
    "{ owners { tag { __typename name } item { ...on Item { shout } } } }",
])
def test_objects_read_off_their_parent_complete_as_graphql_core(query: str) -> None:
    document = parse(query)
    expected = execute(OWNERS._schema, document, executor_class=Executor)
    for _ in range(2):
        answer = execute(OWNERS._schema, document, executor_class=PlainExecutor)
        assert answer.data == expected.data
        assert [e.formatted for e in answer.errors or ()] == [
            e.formatted for e in expected.errors or ()]


@pytest.mark.parametrize("query", [
    "{ maybeOwners { late { word } } }",
    "{ maybeOwners { late { word fails } } }",  # an awaited error, located in the object
])
async def test_an_object_read_with_awaited_fields_completes_as_graphql_core(query: str) -> None:
    document = parse(query)
    expected = await execute(OWNERS._schema, document, executor_class=Executor)  # type: ignore[misc]
    answer = await execute(OWNERS._schema, document, executor_class=PlainExecutor)  # type: ignore[misc]
    assert answer.data == expected.data
    assert [e.formatted for e in answer.errors or ()] == [
        e.formatted for e in expected.errors or ()]
    assert expected.errors or "fails" not in query
