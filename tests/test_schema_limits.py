"""heartchain.schema.PreparedDocuments: the token, depth and alias limits hold, a request sent
again gets the same answer from the caches, and a valid query still runs."""

from __future__ import annotations

import functools

import httpx
import pytest
import strawberry
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from heartchain.executor import _PREPARED
from heartchain.schema import MAX_ALIASES, MAX_TOKENS, prepared_document, schema
from tests.conftest import gql


async def test_the_token_limit_holds_every_time(client: httpx.AsyncClient) -> None:
    query = "{ " + "__typename " * (MAX_TOKENS + 10) + "}"
    for _ in range(2):
        result = await gql(client, query)
        assert "tokens" in result["errors"][0]["message"], result
        assert result.get("data") is None


async def test_the_alias_limit_holds_every_time(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES + 1)) + " }"
    for _ in range(2):
        result = await gql(client, query)
        assert "aliases" in result["errors"][0]["message"].lower(), result


async def test_a_cached_document_still_runs(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await gql(client, "{ __typename }")) == {"data": {"__typename": "Query"}}
    result = await gql(client, "{ noSuchField }")
    again = await gql(client, "{ noSuchField }")
    assert result == again and "noSuchField" in result["errors"][0]["message"]


LEAN_EXECUTE_CASES = [
    ("{ __typename }", None),
    ("{", None),                                                       # syntax
    ("{ " + "__typename " * (MAX_TOKENS + 10) + "}", None),            # tokens
    ("{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES + 1)) + " }", None),
    ("{ noSuchField }", None),                                         # validation
    ("{ entry(index: 99999999999999999999) { index } }", None),        # Int64 literal
    ("query ($i: Int64!) { entry(index: $i) { index } }", {"i": "x"}),  # variable coercion
    ("query ($i: Int64!) { entry(index: $i) { index } }", {"i": 1}),   # resolver fails: masked
    ("query A { __typename } query B { __typename }", None),           # no operation named
]


def _answer(result: object) -> tuple[str, object, list[dict[str, object]]]:
    errors = [e.formatted for e in (getattr(result, "errors", None) or [])]
    return type(result).__name__, getattr(result, "data", None), errors


@pytest.mark.parametrize(("query", "variables"), LEAN_EXECUTE_CASES)
async def test_the_lean_execute_answers_as_strawberrys_own(query: str,
                                                          variables: dict[str, object] | None
                                                          ) -> None:
    """HeartchainSchema.execute skips strawberry's extension runner (for speed): every kind of
    answer, and every exception the view turns into a 400, must be the same as through it."""
    answers = []
    for execute in (schema.execute, functools.partial(strawberry.Schema.execute, schema)):
        try:
            answers.append(_answer(await execute(query, variable_values=variables)))
        except Exception as exc:  # the same exception type from both, or the test fails
            answers.append((type(exc).__name__, None, []))
    assert answers[0] == answers[1]
    if query == "{ __typename }":
        assert answers[0] == ("ExecutionResult", {"__typename": "Query"}, [])
    if variables == {"i": 1}:  # no context: the resolver's AttributeError, masked
        assert answers[0][2][0]["message"] == "Unexpected error."


async def test_the_lean_execute_refuses_what_the_method_does_not_allow() -> None:
    for execute in (schema.execute, functools.partial(strawberry.Schema.execute, schema)):
        with pytest.raises(InvalidOperationTypeError):
            await execute("mutation { __typename }",
                          allowed_operation_types={OperationType.QUERY})
        with pytest.raises(MissingQueryError):
            await execute("")


COLLECTED_QUERY = """query { __type(name: "Donation") { name ...Kinds
  fields { name type { ... on __Type { kind ofType { name } } } } } }
fragment Kinds on __Type { kind k: kind }"""
INCLUDED_QUERY = """query ($all: Boolean!) { __type(name: "Donation") { name
  fields @include(if: $all) { name } kind @skip(if: $all) } }"""


async def test_sub_fields_collected_once_answer_as_collected_each_time() -> None:
    """PlainExecutor shares an operation's sub-field collections between requests: every
    answer is the one graphql-core's own executor gives, and the shared collections are used."""
    expected = await strawberry.Schema.execute(schema, COLLECTED_QUERY)
    assert expected.errors is None and expected.data["__type"]["fields"]
    for _ in range(3):
        answer = await schema.execute(COLLECTED_QUERY)
        assert (answer.data, answer.errors) == (expected.data, None)
    prepared = _PREPARED[(id(prepared_document(COLLECTED_QUERY)), None)]
    assert prepared.collections and prepared.root  # collected once, kept for the next request


async def test_a_document_with_directives_is_collected_for_each_request() -> None:
    """@include / @skip make the selection depend on the variables: never shared."""
    for include in (True, False, True):
        answer = await schema.execute(INCLUDED_QUERY, variable_values={"all": include})
        assert answer.errors is None
        assert ("fields" in answer.data["__type"]) is include
        assert ("kind" in answer.data["__type"]) is not include
    prepared = _PREPARED[(id(prepared_document(INCLUDED_QUERY)), None)]
    assert prepared.collections is None and prepared.root is None
