"""Offline monthly cost estimate of a secrets baseline, and where each secret is cheapest kept."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType

PRICES_FILE = "prices.json"
CENTS = Decimal("0.01")
PER_10000 = Decimal(10_000)
STANDARD_PARAMETER_LIMIT_KB, SECRET_LIMIT_KB = 4, 64

# Each price the estimate multiplies by: its field of Prices, and its section and key in
# prices.json. The fallback region must record every one; another region records those found.
PRICE_KEYS = (
    ("secret_per_month", "secrets_manager", "secret_per_month"),
    ("replica_per_month", "secrets_manager", "replica_per_month"),
    ("secret_api_per_10000", "secrets_manager", "api_calls_per_10000"),
    ("key_per_month", "kms", "key_per_month"),
    ("replica_key_per_month", "kms", "replica_key_per_month"),
    ("kms_requests_per_10000", "kms", "requests_per_10000"),
    ("endpoint_per_az_hour", "vpc_interface_endpoint", "per_az_hour"),
    ("endpoint_per_gb", "vpc_interface_endpoint", "per_gb_processed"),
    ("standard_parameter_per_month", "ssm_parameter_store", "standard_per_month"),
    ("advanced_parameter_per_month", "ssm_parameter_store", "advanced_per_month"),
    ("standard_parameter_api_per_10000", "ssm_parameter_store", "standard_api_per_10000"),
    ("higher_throughput_api_per_10000", "ssm_parameter_store", "higher_throughput_api_per_10000"),
)
PRICED_SERVICES = tuple(dict.fromkeys(section for _, section, _ in PRICE_KEYS))


@dataclass(frozen=True)
class Prices:
    """One region's list prices, as the estimate multiplies by them.

    A price named in `assumed` was not found published for `region`: it is `fallback_region`'s,
    and every line and sentence that uses it says so.
    """

    region: str
    currency: str
    hours_per_month: int
    secret_per_month: Decimal
    replica_per_month: Decimal
    secret_api_per_10000: Decimal
    key_per_month: Decimal
    replica_key_per_month: Decimal
    kms_requests_per_10000: Decimal
    endpoint_per_az_hour: Decimal
    endpoint_per_gb: Decimal
    standard_parameter_per_month: Decimal
    advanced_parameter_per_month: Decimal
    standard_parameter_api_per_10000: Decimal
    higher_throughput_api_per_10000: Decimal
    fallback_region: str = ""
    assumed: frozenset[str] = field(default_factory=frozenset)

    def region_of(self, price: str) -> str:
        """The region whose list price `price` (a field name) is."""
        return self.fallback_region if price in self.assumed else self.region


@dataclass(frozen=True)
class PriceRecord:
    """The prices of one service recorded for one region, and where they were read."""

    sources: tuple[str, ...]
    read: str
    how: str
    prices: Mapping[str, Decimal]


@dataclass(frozen=True)
class PriceBook:
    """prices.json: the prices recorded per region, and the region that stands in for the rest."""

    as_of: str  # when the fallback region's prices were recorded
    currency: str
    hours_per_month: int
    fallback_region: str
    note: str
    regions: Mapping[str, Mapping[str, PriceRecord]]  # region -> service -> record

    def for_region(self, region: str) -> Prices:
        """`region`'s prices; each one not recorded for it is the fallback region's, marked."""
        recorded = self.regions.get(region, {})
        fallback = self.regions[self.fallback_region]
        values: dict[str, Decimal] = {}
        assumed = set()
        for name, section, key in PRICE_KEYS:
            found = recorded.get(section)
            if found is not None and key in found.prices:
                values[name] = found.prices[key]
            else:
                values[name] = fallback[section].prices[key]
                assumed.add(name)
        return Prices(
            region=region,
            currency=self.currency,
            hours_per_month=self.hours_per_month,
            fallback_region=self.fallback_region,
            assumed=frozenset(assumed),
            **values,
        )


def load_prices(path: Path | None = None) -> PriceBook:
    """Read prices from `path`, or from the prices.json packaged beside this module.

    Prices are JSON strings, never numbers, so that "0.40" reaches Decimal without passing
    through a float. A missing key or a value of the wrong kind raises ValueError naming it.
    """
    if path is None:
        label, text = PRICES_FILE, files("strongbox.report").joinpath(PRICES_FILE).read_text()
    else:
        label, text = path.name, path.read_text()
    document = _PriceDocument(label, json.loads(text))
    fallback = document.text(document.top, "fallback_region")
    regions = document.mapping(document.top, "regions", "regions")
    if fallback not in regions:
        raise ValueError(f"{label}: regions.{fallback}: missing (the fallback_region)")
    return PriceBook(
        as_of=document.text(document.top, "as_of"),
        currency=document.text(document.top, "currency"),
        hours_per_month=document.positive_integer("hours_per_month"),
        fallback_region=fallback,
        note=document.text(document.top, "note"),
        regions=MappingProxyType(
            {region: document.region(region, required=region == fallback) for region in regions}
        ),
    )


class _PriceDocument:
    """The parsed JSON, read key by key so every complaint names the key at fault."""

    def __init__(self, label: str, data: object) -> None:
        self._label = label
        self.top = self._object(data, "")

    def text(self, mapping: Mapping[str, object], key: str, where: str = "") -> str:
        where = where or key
        value = self._get(mapping, key, where)
        if not isinstance(value, str) or not value.strip():
            raise self._error(where, "expected a non-empty string", value)
        return value

    def positive_integer(self, key: str) -> int:
        value = self._get(self.top, key, key)
        # bool is an int to Python, but `true` hours in a month is a mistake.
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self._error(key, "expected a positive integer", value)
        return value

    def mapping(self, mapping: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
        return self._object(self._get(mapping, key, where), where)

    def region(self, region: str, *, required: bool) -> Mapping[str, PriceRecord]:
        """One region's records; the fallback region (`required`) must hold every price."""
        where = f"regions.{region}"
        services = self.mapping(self.mapping(self.top, "regions", "regions"), region, where)
        for service in services:
            if service not in PRICED_SERVICES:
                raise self._error(
                    f"{where}.{service}",
                    f"not a priced service (allowed: {', '.join(PRICED_SERVICES)})",
                    service,
                )
        records = {
            service: self.record(services, service, f"{where}.{service}")
            for service in PRICED_SERVICES
            if required or service in services
        }
        if required:
            for _, section, key in PRICE_KEYS:
                if key not in records[section].prices:
                    raise ValueError(f"{self._label}: {where}.{section}.prices.{key}: missing")
        return MappingProxyType(records)

    def record(self, services: Mapping[str, object], service: str, where: str) -> PriceRecord:
        record = self.mapping(services, service, where)
        sources = self._get(record, "sources", f"{where}.sources")
        if (
            not isinstance(sources, list)
            or not sources
            or not all(isinstance(url, str) and url.startswith("https://") for url in sources)
        ):
            raise self._error(f"{where}.sources", "expected a list of https URLs", sources)
        allowed = [key for _, section, key in PRICE_KEYS if section == service]
        prices = self.mapping(record, "prices", f"{where}.prices")
        for key in prices:
            if key not in allowed:
                raise self._error(
                    f"{where}.prices.{key}", f"not a price (allowed: {', '.join(allowed)})", key
                )
        how = record.get("how", "")
        if not isinstance(how, str):
            raise self._error(f"{where}.how", "expected a string", how)
        return PriceRecord(
            sources=tuple(str(url) for url in sources),
            read=self.text(record, "read", f"{where}.read"),
            how=how,
            prices=MappingProxyType(
                {key: self.price(prices, key, f"{where}.prices.{key}") for key in prices}
            ),
        )

    def price(self, prices: Mapping[str, object], key: str, where: str) -> Decimal:
        value = self._get(prices, key, where)
        if not isinstance(value, str):
            raise self._error(where, "expected a decimal string", value)
        try:
            price = Decimal(value)
        except InvalidOperation:
            raise self._error(where, "expected a decimal string", value) from None
        # Decimal accepts "NaN" and "Infinity", neither of which is a price.
        if not price.is_finite() or price < 0:
            raise self._error(where, "expected a decimal string", value)
        return price

    def _object(self, value: object, where: str) -> Mapping[str, object]:
        if not isinstance(value, dict):
            raise (
                ValueError(f"{self._label}: expected a JSON object")
                if not where
                else self._error(where, "expected an object", value)
            )
        return value

    def _get(self, mapping: Mapping[str, object], key: str, where: str) -> object:
        if key not in mapping:
            raise ValueError(f"{self._label}: {where}: missing")
        return mapping[key]

    def _error(self, where: str, expected: str, value: object) -> ValueError:
        return ValueError(f"{self._label}: {where}: {expected}, got {value!r}")


@dataclass(frozen=True)
class Endpoint:
    """One interface VPC endpoint, billed per Availability Zone it has a network interface in."""

    service: str
    availability_zones: int

    def __post_init__(self) -> None:
        if self.availability_zones < 1:
            raise ValueError(f"endpoint {self.service!r}: availability_zones must be at least 1")


@dataclass(frozen=True)
class Footprint:
    """What one environment deploys, counted from its templates.

    Parameter counts are by tier; `secure_string_parameters` is the SecureString subset of
    them, counted separately because only those reads cost a kms:Decrypt.
    """

    secrets: int
    replicas: int
    keys: int
    replica_keys: int
    endpoints: tuple[Endpoint, ...]
    standard_parameters: int
    advanced_parameters: int
    secure_string_parameters: int

    def __post_init__(self) -> None:
        counts = {
            "secrets": self.secrets,
            "replicas": self.replicas,
            "keys": self.keys,
            "replica_keys": self.replica_keys,
            "standard_parameters": self.standard_parameters,
            "advanced_parameters": self.advanced_parameters,
            "secure_string_parameters": self.secure_string_parameters,
        }
        for name, count in counts.items():
            if count < 0:
                raise ValueError(f"footprint: {name} must not be negative, got {count}")
        if self.secure_string_parameters > self.standard_parameters + self.advanced_parameters:
            raise ValueError(
                "footprint: secure_string_parameters are a subset of the standard and advanced "
                f"parameters, but {self.secure_string_parameters} > "
                f"{self.standard_parameters} + {self.advanced_parameters}"
            )


@dataclass(frozen=True)
class Assumptions:
    """Usage the templates can't tell; every figure here appears in the estimate's sentences."""

    # GetSecretValue calls per primary secret. Replicas are standby copies, read only after a
    # regional failover, so reads are charged against primaries only.
    reads_per_secret_per_month: int = 10_000
    endpoint_gb_per_month: Decimal = Decimal("1")  # data processed by each endpoint
    parameter_reads_per_month: int = 10_000  # GetParameter calls per parameter
    # Parameter Store's account-wide throughput setting: standard throughput API calls are free.
    higher_throughput: bool = False

    def __post_init__(self) -> None:
        if self.reads_per_secret_per_month < 0 or self.parameter_reads_per_month < 0:
            raise ValueError("assumptions: reads per month must not be negative")
        if self.endpoint_gb_per_month < 0:
            raise ValueError("assumptions: endpoint_gb_per_month must not be negative")


@dataclass(frozen=True)
class CostLine:
    """One billed dimension in one region: quantity * unit_price, rounded to cents as `monthly`.

    `price_region` is the region whose list price `unit_price` is: `region` itself, or the
    fallback region when no price of `region` was found published (an assumed price).
    """

    item: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    monthly: Decimal
    region: str
    price_region: str

    @property
    def assumed(self) -> bool:
        return self.price_region != self.region


@dataclass(frozen=True)
class CostEstimate:
    """The lines that cost anything to count, their total, and the assumptions behind them."""

    lines: tuple[CostLine, ...]
    total: Decimal
    assumptions: tuple[str, ...]


def estimate(footprint: Footprint, assumptions: Assumptions, prices: Prices) -> CostEstimate:
    """Monthly cost of `footprint`, deployed in `prices.region`, each line rounded half-up to
    cents. The total is the sum of the rounded lines, so it always equals what the lines show."""
    return _estimate([(footprint, prices)], assumptions)


def estimate_by_region(
    footprints: Mapping[str, Footprint], assumptions: Assumptions, book: PriceBook
) -> CostEstimate:
    """Monthly cost of what an environment deploys in each region, each at that region's prices:
    the lines of every region in the order given, one total."""
    return _estimate(
        [(footprint, book.for_region(region)) for region, footprint in footprints.items()],
        assumptions,
    )


def _estimate(priced: Sequence[tuple[Footprint, Prices]], assumptions: Assumptions) -> CostEstimate:
    if not priced:
        raise ValueError("estimate: no region to price")
    lines = tuple(
        line for footprint, prices in priced for line in _lines(footprint, assumptions, prices)
    )
    return CostEstimate(
        lines=lines,
        total=sum((line.monthly for line in lines), Decimal("0.00")),
        assumptions=_assumption_sentences(priced, assumptions, lines),
    )


def _lines(footprint: Footprint, assumptions: Assumptions, prices: Prices) -> Iterable[CostLine]:
    parameters = footprint.standard_parameters + footprint.advanced_parameters
    secret_calls = footprint.secrets * assumptions.reads_per_secret_per_month
    # Each read of a KMS-encrypted value is one kms:Decrypt, whichever service stores it.
    decrypts = (
        secret_calls + footprint.secure_string_parameters * assumptions.parameter_reads_per_month
    )
    parameter_calls = parameters * assumptions.parameter_reads_per_month
    throughput = "higher" if assumptions.higher_throughput else "standard"
    az_hours = sum(endpoint.availability_zones for endpoint in footprint.endpoints)
    # (item, quantity, unit, the Prices field it is billed at)
    candidates: tuple[tuple[str, Decimal | int, str, str], ...] = (
        ("Secrets Manager secrets", footprint.secrets, "secret-month", "secret_per_month"),
        ("Secrets Manager replicas", footprint.replicas, "replica-month", "replica_per_month"),
        (
            "Secrets Manager API calls",
            Decimal(secret_calls) / PER_10000,
            "10,000 calls",
            "secret_api_per_10000",
        ),
        ("KMS keys", footprint.keys, "key-month", "key_per_month"),
        ("KMS replica keys", footprint.replica_keys, "key-month", "replica_key_per_month"),
        (
            "KMS requests",
            Decimal(decrypts) / PER_10000,
            "10,000 requests",
            "kms_requests_per_10000",
        ),
        (
            "Interface endpoint hours",
            az_hours * prices.hours_per_month,
            "endpoint-AZ-hour",
            "endpoint_per_az_hour",
        ),
        (
            "Interface endpoint data processed",
            len(footprint.endpoints) * assumptions.endpoint_gb_per_month,
            "GB",
            "endpoint_per_gb",
        ),
        # Shown even at a zero price: the reader sees the parameters were counted, not missed.
        (
            "Standard parameters",
            footprint.standard_parameters,
            "parameter-month",
            "standard_parameter_per_month",
        ),
        (
            "Advanced parameters",
            footprint.advanced_parameters,
            "parameter-month",
            "advanced_parameter_per_month",
        ),
        (
            f"Parameter Store API calls ({throughput} throughput)",
            Decimal(parameter_calls) / PER_10000,
            "10,000 calls",
            _parameter_api_price(assumptions),
        ),
    )
    for item, quantity, unit, price in candidates:
        if quantity:
            unit_price: Decimal = getattr(prices, price)
            yield CostLine(
                item=item,
                quantity=Decimal(quantity),
                unit=unit,
                unit_price=unit_price,
                monthly=_to_cents(Decimal(quantity) * unit_price),
                region=prices.region,
                price_region=prices.region_of(price),
            )


def _to_cents(amount: Decimal) -> Decimal:
    # Half-up is how a person rounds a bill; Decimal's default (half-even) would surprise them.
    return amount.quantize(CENTS, rounding=ROUND_HALF_UP)


def _assumption_sentences(
    priced: Sequence[tuple[Footprint, Prices]],
    assumptions: Assumptions,
    lines: Sequence[CostLine],
) -> tuple[str, ...]:
    endpoints = (
        ", ".join(
            f"{endpoint.service} in {endpoint.availability_zones} AZs"
            for footprint, _ in priced
            for endpoint in footprint.endpoints
        )
        or "none"
    )
    throughput = (
        "higher throughput, so every parameter API call is charged"
        if assumptions.higher_throughput
        else "standard throughput"
    )
    regions = _listed([prices.region for _, prices in priced], "and")
    currency, hours = priced[0][1].currency, priced[0][1].hours_per_month
    sentences = [
        f"Prices are {currency} list prices for {regions}, each line at its own region's price, "
        "recorded by hand from AWS's pricing pages (prices.json gives each one's page and the "
        "date it was read) and not fetched: the report runs offline.",
    ]
    assumed = [line for line in lines if line.assumed]
    if assumed:
        fallbacks = _listed(list(dict.fromkeys(line.price_region for line in assumed)), "and")
        missing = _listed(list(dict.fromkeys(line.region for line in assumed)), "or")
        sentences.append(
            f"A price marked 'assumed: {fallbacks} price' is {fallbacks}'s: no {missing} price "
            "for it was found published, so the real one may differ (interface endpoint hours, "
            "for one, cost more in some regions)."
        )
    return (
        *sentences,
        f"A month is {hours} hours.",
        f"Each secret is read {assumptions.reads_per_secret_per_month:,} times a month "
        "(GetSecretValue); replicas are standby copies read only after a regional failover, "
        "so reads are counted against primary secrets only.",
        "Each read of a secret or SecureString parameter costs one kms:Decrypt request (AWS "
        "bills requests to customer and AWS managed keys alike); the KMS free tier (20,000 "
        "requests a month per account) is not subtracted.",
        f"Each parameter is read {assumptions.parameter_reads_per_month:,} times a month and "
        f"Parameter Store is set to {throughput}.",
        f"Each interface endpoint processes {assumptions.endpoint_gb_per_month} GB a month; "
        f"endpoints: {endpoints}.",
        "Not included: the extra key-month KMS charges for each of a key's first two automatic "
        "rotations, rotation Lambda invocations, the workload's compute (Fargate, Lambda, EC2), "
        "CloudWatch Logs, SNS alerts, CloudTrail, NAT and data transfer, free trials.",
    )


def _listed(items: Sequence[str], conjunction: str) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) < 3:
        return f" {conjunction} ".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


@dataclass(frozen=True)
class SecretTraits:
    """What decides where a secret belongs, read from its template."""

    name: str
    rotates: bool
    replicas: int
    cross_account_readers: tuple[str, ...]


@dataclass(frozen=True)
class Advice:
    """A secret that would cost less as a standard-tier SecureString parameter, and why.

    `assumed_from` names the region whose prices the saving uses when its own were not found.
    """

    name: str
    saving_per_month: Decimal
    reason: str
    assumed_from: str | None = None


def secure_string_advice(
    secrets: Sequence[SecretTraits], assumptions: Assumptions, prices: Prices
) -> tuple[Advice, ...]:
    """Advice for each secret that uses nothing only Secrets Manager offers, in input order.

    A secret that never rotates, has no replica and no reader in another account gains nothing
    from Secrets Manager over a standard-tier SecureString parameter read as often. KMS costs the
    same either way, so it is left out of the saving; so is a secret whose saving is not positive
    at these prices.
    """
    reads = Decimal(assumptions.reads_per_secret_per_month) / PER_10000
    parameter_api = _parameter_api_price(assumptions)
    as_secret = prices.secret_per_month + reads * prices.secret_api_per_10000
    as_parameter = prices.standard_parameter_per_month + reads * getattr(prices, parameter_api)
    saving = _to_cents(as_secret - as_parameter)
    if saving <= 0:
        return ()
    used = {
        "secret_per_month",
        "secret_api_per_10000",
        "standard_parameter_per_month",
        parameter_api,
    }
    reason = (
        "It never rotates, has no replicas and no cross-account reader, so Secrets Manager adds "
        "nothing a standard-tier SecureString parameter lacks; KMS cost is the same either way "
        "(both decrypt with the same KMS key). Moving it gives up a rotation schedule, "
        "cross-region replicas and a resource policy for other accounts, and the value must fit "
        f"the {STANDARD_PARAMETER_LIMIT_KB} KB standard-tier limit (a secret holds up to "
        f"{SECRET_LIMIT_KB} KB)."
    )
    return tuple(
        Advice(
            secret.name,
            saving,
            reason,
            prices.fallback_region if used & prices.assumed else None,
        )
        for secret in secrets
        if not secret.rotates and secret.replicas == 0 and not secret.cross_account_readers
    )


def _parameter_api_price(assumptions: Assumptions) -> str:
    """The Prices field Parameter Store API calls are billed at, by the throughput setting."""
    if assumptions.higher_throughput:
        return "higher_throughput_api_per_10000"
    return "standard_parameter_api_per_10000"
