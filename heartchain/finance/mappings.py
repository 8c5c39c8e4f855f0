"""Which column of a payment provider's export is which field, mapped once per charity and kept.

Fields: `payer` (phone, e-mail or the provider's payer id), `amount` (yuan, two decimals) and
`transaction` (the provider's transaction id) are required; `time` (when the payer paid),
`campaign` (a slug; else the import's default campaign) and `status` (rows whose status is not a
completed payment are refused) are optional. Built in: `alipay` and `wechat` (the headers of
Alipay's and WeChat Pay's merchant exports, in Chinese) and `generic` (English or Chinese plain
names). A charity's own mapping names one header per field and is kept in
`finance_import_mapping` (off-log: configuration, not state).

Headers are compared after NFKC normalisation, trimming and lower-casing, so "金额（元）" matches
"金额(元)", and WeChat's leading backtick is ignored.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass

from heartchain.errors import NotFound, ValidationError
from heartchain.finance.models import ImportMapping

FIELDS = ("time", "payer", "amount", "transaction", "campaign", "status")
REQUIRED = ("payer", "amount", "transaction")
# Statuses that mean the payment completed (compared normalised), for a mapped `status`.
COMPLETED = frozenset({"交易成功", "支付成功", "已支付", "success", "trade_success", "paid",
                       "completed"})
HEADER_SEARCH_ROWS = 30  # provider exports put a few lines of summary above the header


@dataclass(frozen=True)
class Mapping:
    name: str
    columns: MappingABC[str, tuple[str, ...]]  # field -> headers that may hold it, in order


PRESETS: dict[str, Mapping] = {m.name: m for m in [
    Mapping("alipay", {
        "time": ("付款时间", "交易创建时间", "交易时间", "创建时间"),
        "payer": ("买家支付宝账号", "对方账号", "买家账号", "付款方账号", "用户号"),
        "amount": ("订单金额(元)", "金额(元)", "交易金额", "收入(+元)", "订单金额"),
        "transaction": ("支付宝交易号", "交易号", "支付宝流水号"),
        "campaign": ("项目", "项目标识"),
        "status": ("交易状态",),
    }),
    Mapping("wechat", {
        "time": ("交易时间", "支付时间"),
        "payer": ("用户标识", "付款人", "用户openid"),
        "amount": ("订单金额", "应结订单金额", "总金额", "金额(元)"),
        "transaction": ("微信支付单号", "微信订单号", "交易单号"),
        "campaign": ("项目", "项目标识"),
        "status": ("交易状态",),
    }),
    Mapping("generic", {
        "time": ("time", "paid_at", "date", "时间", "付款时间"),
        "payer": ("payer", "payer_id", "phone", "email", "付款人", "手机号"),
        "amount": ("amount", "amount_yuan", "yuan", "金额", "金额(元)"),
        "transaction": ("transaction_id", "transaction", "txid", "交易号"),
        "campaign": ("campaign", "项目"),
        "status": ("status", "状态"),
    }),
]}


def normal_header(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lstrip("`").strip().lower()


@dataclass(frozen=True)
class Resolved:
    """A mapping matched to a file's header row: field -> (column position, header as shown)."""

    name: str
    header_row: int  # 1-based, as a spreadsheet numbers rows
    columns: MappingABC[str, tuple[int, str]]


def resolve(mapping: Mapping, header: Sequence[str], row: int) -> Resolved | list[str]:
    """Match `mapping` to `header`; the required fields it finds no column for otherwise."""
    positions = {normal_header(h): i for i, h in reversed(list(enumerate(header))) if h.strip()}
    found: dict[str, tuple[int, str]] = {}
    for field in FIELDS:
        for candidate in mapping.columns.get(field, ()):
            position = positions.get(normal_header(candidate))
            if position is not None:
                found[field] = (position, header[position].strip().lstrip("`"))
                break
    missing = [f for f in REQUIRED if f not in found]
    return missing or Resolved(mapping.name, row, found)


def find_header(mappings: Sequence[Mapping], rows: Sequence[Sequence[str]]) -> Resolved:
    """The first of the file's first rows that one of `mappings` (tried in order) fits."""
    nearest: tuple[str, list[str]] | None = None
    for number, cells in enumerate(rows[:HEADER_SEARCH_ROWS], 1):
        for mapping in mappings:
            result = resolve(mapping, cells, number)
            if isinstance(result, Resolved):
                return result
            if len(result) < len(REQUIRED) and (nearest is None
                                                or len(result) < len(nearest[1])):
                nearest = (mapping.name, result)
    if nearest is not None:
        name, missing = nearest
        wanted = "; ".join(f"{f}: {' / '.join(_candidates(mappings, name, f))}" for f in missing)
        raise ValidationError(f"mapping {name}: the header row has no column for "
                              f"{', '.join(missing)} (looked for {wanted})", field="mapping")
    names = ", ".join(m.name for m in mappings)
    raise ValidationError(f"no header row in the first {HEADER_SEARCH_ROWS} rows fits the "
                          f"mapping(s) {names}: map the columns with --columns", field="mapping")


def _candidates(mappings: Sequence[Mapping], name: str, field: str) -> tuple[str, ...]:
    return next(m.columns.get(field, ()) for m in mappings if m.name == name)


def parse_columns(spec: str) -> dict[str, str]:
    """`payer=付款人,amount=金额（元）,transaction=流水号` as field -> header."""
    columns: dict[str, str] = {}
    for part in spec.split(","):
        field, sep, header = part.partition("=")
        field = field.strip()
        if not sep or not header.strip():
            raise ValidationError(f"columns: {part.strip()!r} is not field=header",
                                  field="columns")
        columns[field] = header.strip()
    return columns


def check_columns(columns: MappingABC[str, str]) -> dict[str, str]:
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ValidationError(f"columns: unknown field(s) {', '.join(unknown)} (fields: "
                              f"{', '.join(FIELDS)})", field="columns")
    missing = [f for f in REQUIRED if not columns.get(f, "").strip()]
    if missing:
        raise ValidationError(f"columns: a mapping needs {', '.join(missing)}",
                              field="columns")
    return {f: columns[f].strip() for f in FIELDS if columns.get(f, "").strip()}


def _check_name(name: str) -> str:
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise ValidationError("mapping: a name is 1-64 letters, digits, - or _",
                              field="mapping")
    return name


async def save_mapping(charity: str, name: str, columns: MappingABC[str, str], *,
                       now: str) -> Mapping:
    """Keep `charity`'s mapping `name` (replacing one of that name)."""
    checked = check_columns(columns)
    await ImportMapping.update_or_create(
        id=f"{charity}|{_check_name(name)}",
        defaults={"charity": charity, "name": name, "columns": checked, "updated_at": now})
    return Mapping(name, {f: (h,) for f, h in checked.items()})


async def saved_mappings(charity: str) -> list[Mapping]:
    rows = await ImportMapping.filter(charity=charity).order_by("name")
    return [Mapping(r.name, {f: (h,) for f, h in r.columns.items()}) for r in rows]


async def mappings_to_try(charity: str, name: str | None) -> list[Mapping]:
    """`name` (the charity's own mapping of that name, else a built-in one), or else every
    mapping the charity kept, then the built-in ones."""
    saved = await saved_mappings(charity)
    if name is None:
        return [*saved, *PRESETS.values()]
    for mapping in saved:
        if mapping.name == name:
            return [mapping]
    if name in PRESETS:
        return [PRESETS[name]]
    raise NotFound(f"mapping {name!r}: the charity kept no mapping of that name, and there is "
                   f"no built-in one (built in: {', '.join(PRESETS)})")
