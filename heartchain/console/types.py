"""GraphQL reads of the console: a charity's donations (search, pages), the address book."""

from __future__ import annotations

import strawberry

from heartchain.console import services
from heartchain.gql import (
    Connection,
    Info,
    Int64,
    connection,
    decode_cursor,
    encode_cursor,
    page_size,
)
from tracing.models import TracedDonation


@strawberry.type(description="A donation the signed-in charity recorded, as it stands now.")
class RecordedDonation:
    index: Int64
    donor: str
    kind: str
    quantity: Int64
    campaign: str
    at: str
    reversed: Int64
    used: Int64 = strawberry.field(description="cash: fen disbursed; goods: units put in lots")
    reversed_index: Int64 | None

    @classmethod
    def of(cls, row: TracedDonation) -> RecordedDonation:
        return cls(index=Int64(row.idx), donor=row.donor, kind=row.kind,
                   quantity=Int64(row.quantity), campaign=row.campaign, at=row.at,
                   reversed=Int64(row.reversed), used=Int64(row.used),
                   reversed_index=None if row.reversed_idx is None
                   else Int64(row.reversed_idx))


@strawberry.type(description="A registered organisation: its public name on the log.")
class Organisation:
    address: str
    role: str
    label: str


@strawberry.type
class Query:
    @strawberry.field(description="Charity: the donations you recorded, newest first; by "
                                  "campaign, date range (YYYY-MM-DD, inclusive), donor "
                                  "address or entry index.")
    async def recorded_donations(self, info: Info, campaign: str | None = None,
                                 since: str | None = None, until: str | None = None,
                                 donor: str | None = None, index: Int64 | None = None,
                                 first: int = 20, after: str | None = None
                                 ) -> Connection[RecordedDonation]:
        charity = info.context.require_account("charity")
        limit = page_size(first)
        rows = await services.donations_of(
            charity.address, services.DonationFilter(campaign, since, until, donor, index),
            before=decode_cursor("recorded", after), limit=limit + 1)
        return connection(rows, limit, cursor=lambda r: encode_cursor("recorded", r.idx),
                          node=RecordedDonation.of)

    @strawberry.field(description="The address book: registered organisations by name "
                                  "(charities, partners, investigators, witnesses; never "
                                  "members), optionally of one role.")
    async def organisations(self, role: str | None = None) -> list[Organisation]:
        return [Organisation(address=a.address, role=a.role, label=a.label or "")
                for a in await services.organisations(role)]
