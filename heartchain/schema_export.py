"""Print the GraphQL SDL of the schema (`make schema` writes it to graphql/schema.graphql)."""

from __future__ import annotations

from heartchain.schema import schema


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
