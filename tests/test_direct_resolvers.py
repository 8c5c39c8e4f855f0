"""heartchain.direct_resolvers: a mutation resolved straight through Guarded gets the arguments,
the Info and the answers strawberry's own resolver chain gives it."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from heartchain.direct_resolvers import resolve_mutations_directly
from heartchain.gql import SCALARS, Info, Int64, mutation
from heartchain.schema import DIRECT_MUTATIONS, MemoisedNames
from heartchain.schema import Mutation as HeartchainMutation
from tests.test_executor import Colour, Query


@strawberry.type
class Echoed:
    text: str


@strawberry.type
class Mutation:
    @mutation(signed_in=False)
    async def echo(self, info: Info, text: str, times: Int64, colour: Colour | None = None,
                   note: str | None = None) -> Echoed:
        assert isinstance(info, strawberry.Info) and info.context["seen"] is not None
        info.context["seen"].append(str(info.path.key))
        return Echoed(text=f"{text}*{times} {colour} {note!r}")

    @mutation()
    def plain(self, text: str) -> Echoed:
        return Echoed(text=text[::-1])

    @mutation()
    def listed(self, texts: list[str]) -> Echoed:  # a list: strawberry's own path
        return Echoed(text=",".join(texts))


def _schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation, config=StrawberryConfig(
        scalar_map=SCALARS, name_converter=MemoisedNames()))


PLAIN, DIRECT = _schema(), _schema()
DIRECTLY = resolve_mutations_directly(DIRECT, Mutation)


def test_mutations_with_scalar_and_enum_arguments_are_resolved_directly() -> None:
    assert set(DIRECTLY) == {"echo", "plain"}  # `listed` takes a list: strawberry converts it


MUTATIONS: list[tuple[str, dict[str, Any] | None]] = [
    ("mutation { a: echo(text: \"hi\", times: 2, colour: BLUE) { text } "
     "b: echo(text: \"yo\", times: 1) { text } }", None),
    ("mutation ($t: String!, $n: Int64!, $c: Colour, $note: String) "
     "{ echo(text: $t, times: $n, colour: $c, note: $note) { text } }",
     {"t": "x", "n": 3, "c": "RED", "note": None}),
    ("mutation { plain(text: \"abc\") { text } listed(texts: [\"a\", \"b\"]) { text } }", None),
    ("mutation ($n: Int64!) { echo(text: \"x\", times: $n) { text } }", {"n": 1.5}),
]


@pytest.mark.parametrize(("query", "variables"), MUTATIONS)
async def test_a_direct_resolver_answers_as_strawberrys(query: str,
                                                        variables: dict[str, Any] | None
                                                        ) -> None:
    answers = []
    for schema in (PLAIN, DIRECT):
        seen: list[str] = []
        result = await schema.execute(query, variable_values=variables,
                                      context_value={"seen": seen})
        answers.append((result.data, [e.message for e in result.errors or ()], seen))
    assert answers[0] == answers[1]
    assert answers[0][0] is not None or answers[0][1]


def test_most_of_heartchains_mutations_are_resolved_directly() -> None:
    """Those taking input objects or lists (rate tables, lot splits, plan terms) keep
    strawberry's resolver; every donation, check and custody hop is direct."""
    fields = strawberry.types.base.get_object_definition(HeartchainMutation, strict=True).fields
    assert len(DIRECT_MUTATIONS) > len(fields) / 2
    assert {"recordDonation", "checkHearts", "presentHearts", "offerLot",
            "acceptLot"} <= set(DIRECT_MUTATIONS)
