"""Offline monthly cost estimate of a secrets baseline, and where each secret is cheapest kept."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType

PRICES_FILE = "prices.json"
CENTS = Decimal("0.01")
PER_10000 = Decimal(10_000)
# Every priced section of prices.json must say where its figures came from.
PRICED_SERVICES = ("secrets_manager", "kms", "vpc_interface_endpoint", "ssm_parameter_store")
STANDARD_PARAMETER_LIMIT_KB, SECRET_LIMIT_KB = 4, 64


@dataclass(frozen=True)
class Prices:
    """List prices the estimate multiplies by, with where and when they were recorded."""

    as_of: str
    currency: str
    region_basis: str
    note: str
    sources: Mapping[str, str]
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


def load_prices(path: Path | None = None) -> Prices:
    """Read prices from `path`, or from the prices.json packaged beside this module.

    Prices are JSON strings, never numbers, so that "0.40" reaches Decimal without passing
    through a float. A missing key or a value of the wrong kind raises ValueError naming it.
    """
    if path is None:
        label, text = PRICES_FILE, files("strongbox.report").joinpath(PRICES_FILE).read_text()
    else:
        label, text = path.name, path.read_text()
    document = _PriceDocument(label, json.loads(text))
    return Prices(
        as_of=document.text("as_of"),
        currency=document.text("currency"),
        region_basis=document.text("region_basis"),
        note=document.text("note"),
        sources=document.sources(),
        hours_per_month=document.positive_integer("hours_per_month"),
        secret_per_month=document.price("secrets_manager", "secret_per_month"),
        replica_per_month=document.price("secrets_manager", "replica_per_month"),
        secret_api_per_10000=document.price("secrets_manager", "api_calls_per_10000"),
        key_per_month=document.price("kms", "key_per_month"),
        replica_key_per_month=document.price("kms", "replica_key_per_month"),
        kms_requests_per_10000=document.price("kms", "requests_per_10000"),
        endpoint_per_az_hour=document.price("vpc_interface_endpoint", "per_az_hour"),
        endpoint_per_gb=document.price("vpc_interface_endpoint", "per_gb_processed"),
        standard_parameter_per_month=document.price("ssm_parameter_store", "standard_per_month"),
        advanced_parameter_per_month=document.price("ssm_parameter_store", "advanced_per_month"),
        standard_parameter_api_per_10000=document.price(
            "ssm_parameter_store", "standard_api_per_10000"
        ),
        higher_throughput_api_per_10000=document.price(
            "ssm_parameter_store", "higher_throughput_api_per_10000"
        ),
    )


class _PriceDocument:
    """The parsed JSON, read key by key so every complaint names the key at fault."""

    def __init__(self, label: str, data: object) -> None:
        self._label = label
        self._data = self._object(data, "")

    def text(self, key: str) -> str:
        value = self._get(self._data, key, key)
        if not isinstance(value, str) or not value.strip():
            raise self._error(key, "expected a non-empty string", value)
        return value

    def positive_integer(self, key: str) -> int:
        value = self._get(self._data, key, key)
        # bool is an int to Python, but `true` hours in a month is a mistake.
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self._error(key, "expected a positive integer", value)
        return value

    def sources(self) -> Mapping[str, str]:
        sources = self._object(self._get(self._data, "sources", "sources"), "sources")
        for service in PRICED_SERVICES:
            url = self._get(sources, service, f"sources.{service}")
            if not isinstance(url, str) or not url.startswith("https://"):
                raise self._error(f"sources.{service}", "expected an https URL", url)
        return MappingProxyType({str(service): str(url) for service, url in sources.items()})

    def price(self, section: str, key: str) -> Decimal:
        prices = self._object(self._get(self._data, section, section), section)
        where = f"{section}.{key}"
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
    """One billed dimension: quantity * unit_price, rounded to cents as `monthly`."""

    item: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    monthly: Decimal


@dataclass(frozen=True)
class CostEstimate:
    """The lines that cost anything to count, their total, and the assumptions behind them."""

    lines: tuple[CostLine, ...]
    total: Decimal
    assumptions: tuple[str, ...]


def estimate(footprint: Footprint, assumptions: Assumptions, prices: Prices) -> CostEstimate:
    """Monthly cost of `footprint` at `prices`, each line rounded half-up to cents.

    The total is the sum of the rounded lines, so it always equals what the lines show.
    """
    parameters = footprint.standard_parameters + footprint.advanced_parameters
    secret_calls = footprint.secrets * assumptions.reads_per_secret_per_month
    # Each read of a KMS-encrypted value is one kms:Decrypt, whichever service stores it.
    decrypts = (
        secret_calls + footprint.secure_string_parameters * assumptions.parameter_reads_per_month
    )
    parameter_calls = parameters * assumptions.parameter_reads_per_month
    throughput = "higher" if assumptions.higher_throughput else "standard"
    parameter_api_price = _parameter_api_price(assumptions, prices)
    az_hours = sum(endpoint.availability_zones for endpoint in footprint.endpoints)
    candidates: tuple[tuple[str, Decimal | int, str, Decimal], ...] = (
        ("Secrets Manager secrets", footprint.secrets, "secret-month", prices.secret_per_month),
        ("Secrets Manager replicas", footprint.replicas, "replica-month", prices.replica_per_month),
        (
            "Secrets Manager API calls",
            Decimal(secret_calls) / PER_10000,
            "10,000 calls",
            prices.secret_api_per_10000,
        ),
        ("KMS keys", footprint.keys, "key-month", prices.key_per_month),
        ("KMS replica keys", footprint.replica_keys, "key-month", prices.replica_key_per_month),
        (
            "KMS requests",
            Decimal(decrypts) / PER_10000,
            "10,000 requests",
            prices.kms_requests_per_10000,
        ),
        (
            "Interface endpoint hours",
            az_hours * prices.hours_per_month,
            "endpoint-AZ-hour",
            prices.endpoint_per_az_hour,
        ),
        (
            "Interface endpoint data processed",
            len(footprint.endpoints) * assumptions.endpoint_gb_per_month,
            "GB",
            prices.endpoint_per_gb,
        ),
        # Shown even at a zero price: the reader sees the parameters were counted, not missed.
        (
            "Standard parameters",
            footprint.standard_parameters,
            "parameter-month",
            prices.standard_parameter_per_month,
        ),
        (
            "Advanced parameters",
            footprint.advanced_parameters,
            "parameter-month",
            prices.advanced_parameter_per_month,
        ),
        (
            f"Parameter Store API calls ({throughput} throughput)",
            Decimal(parameter_calls) / PER_10000,
            "10,000 calls",
            parameter_api_price,
        ),
    )
    lines = tuple(
        _line(item, Decimal(quantity), unit, unit_price)
        for item, quantity, unit, unit_price in candidates
        if quantity
    )
    return CostEstimate(
        lines=lines,
        total=sum((line.monthly for line in lines), Decimal("0.00")),
        assumptions=_assumption_sentences(footprint, assumptions, prices),
    )


def _line(item: str, quantity: Decimal, unit: str, unit_price: Decimal) -> CostLine:
    return CostLine(item, quantity, unit, unit_price, _to_cents(quantity * unit_price))


def _to_cents(amount: Decimal) -> Decimal:
    # Half-up is how a person rounds a bill; Decimal's default (half-even) would surprise them.
    return amount.quantize(CENTS, rounding=ROUND_HALF_UP)


def _assumption_sentences(
    footprint: Footprint, assumptions: Assumptions, prices: Prices
) -> tuple[str, ...]:
    endpoints = (
        ", ".join(
            f"{endpoint.service} in {endpoint.availability_zones} AZs"
            for endpoint in footprint.endpoints
        )
        or "none"
    )
    throughput = (
        "higher throughput, so every parameter API call is charged"
        if assumptions.higher_throughput
        else "standard throughput"
    )
    return (
        f"Prices are {prices.currency} list prices for {prices.region_basis} as of {prices.as_of}.",
        prices.note,
        f"A month is {prices.hours_per_month} hours.",
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
        "rotations, rotation Lambda invocations, CloudTrail, NAT and data transfer, free trials.",
    )


@dataclass(frozen=True)
class SecretTraits:
    """What decides where a secret belongs, read from its template."""

    name: str
    rotates: bool
    replicas: int
    cross_account_readers: tuple[str, ...]


@dataclass(frozen=True)
class Advice:
    """A secret that would cost less as a standard-tier SecureString parameter, and why."""

    name: str
    saving_per_month: Decimal
    reason: str


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
    as_secret = prices.secret_per_month + reads * prices.secret_api_per_10000
    as_parameter = prices.standard_parameter_per_month + reads * _parameter_api_price(
        assumptions, prices
    )
    saving = _to_cents(as_secret - as_parameter)
    if saving <= 0:
        return ()
    reason = (
        "It never rotates, has no replicas and no cross-account reader, so Secrets Manager adds "
        "nothing a standard-tier SecureString parameter lacks; KMS cost is the same either way "
        "(both decrypt with the same KMS key). Moving it gives up a rotation schedule, "
        "cross-region replicas and a resource policy for other accounts, and the value must fit "
        f"the {STANDARD_PARAMETER_LIMIT_KB} KB standard-tier limit (a secret holds up to "
        f"{SECRET_LIMIT_KB} KB)."
    )
    return tuple(
        Advice(secret.name, saving, reason)
        for secret in secrets
        if not secret.rotates and secret.replicas == 0 and not secret.cross_account_readers
    )


def _parameter_api_price(assumptions: Assumptions, prices: Prices) -> Decimal:
    if assumptions.higher_throughput:
        return prices.higher_throughput_api_per_10000
    return prices.standard_parameter_api_per_10000
