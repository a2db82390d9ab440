"""Money helpers: the only place dollars and nanodollars are converted.

Inside the product money is an ``int`` of nanodollars (1 = $0.000000001). ``Decimal`` dollars
appear only at the edges (admin, API, messages). No ``float`` ever touches money.
"""

from decimal import Decimal, InvalidOperation

NANOS_PER_DOLLAR = 1_000_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are quoted in USD per 1M tokens


class MoneyError(ValueError):
    """A money value a person typed or configured is not usable."""


def parse_dollars(value: str | int | Decimal, *, what: str = "amount") -> Decimal:
    """A non-negative dollar amount from text, exact to the nanodollar, or ``MoneyError``."""
    if isinstance(value, float):
        raise MoneyError(f"{what} must be given as text or Decimal, not float")
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation:
        raise MoneyError(f"{what} must be a number of dollars, like 15.00 (got {value!r})") from None
    if not amount.is_finite():
        raise MoneyError(f"{what} must be a finite number of dollars (got {value!r})")
    if amount < 0:
        raise MoneyError(f"{what} cannot be negative (got {value})")
    if amount != amount.quantize(Decimal("0.000000001")):
        raise MoneyError(f"{what} has more precision than a nanodollar (got {value})")
    return amount


def to_nanos(value: str | int | Decimal, *, what: str = "amount") -> int:
    """Dollars (text, int or Decimal) to integer nanodollars."""
    return int(parse_dollars(value, what=what) * NANOS_PER_DOLLAR)


def to_dollars(nanos: int) -> Decimal:
    """Integer nanodollars to an exact ``Decimal`` of dollars (trailing zeros trimmed, ≥ 2 places)."""
    amount = Decimal(int(nanos)).scaleb(-9).normalize()
    if amount.as_tuple().exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return amount


def dollars_str(nanos: int) -> str:
    """The JSON form of money: a decimal string in dollars, e.g. ``"14.982675"``, ``"15.00"``."""
    return format(to_dollars(nanos), "f")


def format_usd(nanos: int, *, places: int | None = None) -> str:
    """``$9.00``; exact by default (``$0.031275``), or rounded half-up to ``places`` for display."""
    amount = to_dollars(nanos)
    if places is not None:
        amount = amount.quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP")
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,f}"


def price_to_nanos_per_token(usd_per_million: str | int | Decimal, *, what: str = "price") -> int:
    """USD per 1M tokens to whole nanodollars per token ($0.075 / 1M = 75 nanodollars)."""
    amount = parse_dollars(usd_per_million, what=what)
    nanos = amount * NANOS_PER_DOLLAR / TOKENS_PER_PRICE_UNIT
    if nanos != nanos.to_integral_value():
        raise MoneyError(f"{what} must be a multiple of $0.001 per 1M tokens (got {usd_per_million})")
    return int(nanos)


def nanos_per_token_to_price(nanos_per_token: int) -> Decimal:
    """Whole nanodollars per token back to USD per 1M tokens."""
    return to_dollars(nanos_per_token * TOKENS_PER_PRICE_UNIT)
