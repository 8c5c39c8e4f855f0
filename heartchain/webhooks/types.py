"""GraphQL types of webhooks: register an endpoint (its secret shown once), list, disable."""

from __future__ import annotations

from typing import Annotated

import strawberry

from heartchain.gql import ErrorResult, Info, Int64, mutation
from heartchain.webhooks import models, services


@strawberry.type(description="One attempt to deliver an entry to an endpoint.")
class WebhookAttempt:
    delivery_id: str
    index: Int64
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, row: models.WebhookAttempt) -> WebhookAttempt:
        return cls(delivery_id=row.delivery_id, index=Int64(row.idx), at=row.at,
                   status_code=row.status_code, error=row.error, duration_ms=row.duration_ms)


@strawberry.type(description="An HTTPS endpoint told of new entries matching its filters.")
class Webhook:
    id: str
    url: str
    kinds: list[str]
    campaigns: list[str] = strawberry.field(description="<slug>@<charity address>")
    active: bool
    created_at: str
    start_index: Int64
    next_index: Int64 = strawberry.field(description="every entry below this was delivered "
                                                     "or does not match")
    failures: int = strawberry.field(description="consecutive failed attempts at the entry "
                                                 "at nextIndex")
    retry_at: float | None = strawberry.field(description="Unix time of the next attempt")

    @classmethod
    def of(cls, row: models.WebhookEndpoint) -> Webhook:
        return cls(id=row.id, url=row.url, kinds=services.kinds_of(row),
                   campaigns=services.campaigns_of(row), active=row.active,
                   created_at=row.created_at, start_index=Int64(row.start_index),
                   next_index=Int64(row.next_index), failures=row.failures,
                   retry_at=row.retry_at)

    @strawberry.field(description="The latest attempts, newest first.")
    async def attempts(self, first: int = 20) -> list[WebhookAttempt]:
        rows = await models.WebhookAttempt.filter(endpoint_id=self.id).order_by("-id").limit(
            max(1, min(first, 100)))
        return [WebhookAttempt.of(r) for r in rows]

    @strawberry.field(description="How many entries were delivered.")
    async def delivered(self) -> int:
        return await models.WebhookDelivery.filter(endpoint_id=self.id,
                                                   delivered_at__isnull=False).count()


@strawberry.type(description="The endpoint is registered; its secret is shown this once.")
class WebhookRegistered:
    webhook: Webhook
    secret: str


@strawberry.type
class WebhookChanged:
    webhook: Webhook


RegisterWebhookResult = Annotated[WebhookRegistered | ErrorResult,
                                  strawberry.union("RegisterWebhookResult")]
WebhookResult = Annotated[WebhookChanged | ErrorResult, strawberry.union("WebhookResult")]


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in account's webhook endpoints.")
    async def webhooks(self, info: Info) -> list[Webhook]:
        account = info.context.require_account()
        return [Webhook.of(row) for row in await services.endpoints_of(account.address)]


@strawberry.type
class Mutation:
    @mutation(roles=list(services.OWNER_ROLES),
              description="Charity or partner: register an HTTPS endpoint for entry kinds "
                          "and/or campaigns (both given: both must match). Deliveries are "
                          "signed with the secret returned here, once.")
    async def register_webhook(self, info: Info, url: str, kinds: list[str] | None = None,
                               campaigns: list[str] | None = None,
                               from_index: Int64 | None = None) -> RegisterWebhookResult:
        registered = await services.register(
            info.context.platform, info.context.caller, url, kinds=kinds or [],
            campaigns=campaigns or [], from_index=from_index)
        return WebhookRegistered(webhook=Webhook.of(registered.endpoint),
                                 secret=registered.secret)

    @mutation(roles=list(services.OWNER_ROLES), description="Stop deliveries to an endpoint.")
    async def disable_webhook(self, info: Info, id: str) -> WebhookResult:
        row = await services.disable(info.context.caller.address, id)
        return WebhookChanged(webhook=Webhook.of(row))
