"""The offline cost estimate: every figure below is worked by hand next to its expected value."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from strongbox.credentials import looks_like_credential
from strongbox.report.cost import (
    PRICE_KEYS,
    Advice,
    Assumptions,
    CostLine,
    Endpoint,
    Footprint,
    Prices,
    SecretTraits,
    estimate,
    estimate_by_region,
    load_prices,
    secure_string_advice,
)

PACKAGED = Path(__file__).resolve().parents[1] / "constructs/strongbox/report/prices.json"
D = Decimal
NO_ENDPOINTS: tuple[Endpoint, ...] = ()


def footprint(**counts: Any) -> Footprint:
    """A footprint of nothing but `counts`."""
    zero: dict[str, Any] = {
        "secrets": 0,
        "replicas": 0,
        "keys": 0,
        "replica_keys": 0,
        "endpoints": NO_ENDPOINTS,
        "standard_parameters": 0,
        "advanced_parameters": 0,
        "secure_string_parameters": 0,
    }
    return Footprint(**(zero | counts))


US_EAST_1 = "us-east-1"


def us_prices() -> Prices:
    """The packaged us-east-1 prices: every one recorded, none assumed."""
    return load_prices().for_region(US_EAST_1)


def line(item: str, quantity: D, unit: str, unit_price: D, monthly: D) -> CostLine:
    """A line billed in us-east-1 at its own price."""
    return CostLine(item, quantity, unit, unit_price, monthly, US_EAST_1, US_EAST_1)


# Deliberately awkward prices, so rounding is exercised and nothing depends on prices.json.
ODD_PRICES = Prices(
    region="test-region-1",
    currency="USD",
    hours_per_month=720,
    secret_per_month=D("0.335"),
    replica_per_month=D("0.3349"),
    secret_api_per_10000=D("0.0125"),
    key_per_month=D("1.005"),
    replica_key_per_month=D("0.994"),
    kms_requests_per_10000=D("0.0345"),
    endpoint_per_az_hour=D("0.0133"),
    endpoint_per_gb=D("0.0085"),
    standard_parameter_per_month=D("0"),
    advanced_parameter_per_month=D("0.0625"),
    standard_parameter_api_per_10000=D("0"),
    higher_throughput_api_per_10000=D("0.045"),
    fallback_region="test-region-1",
)


def test_issue_example_at_packaged_prices() -> None:
    """10 secrets with 2 replicas each, 1 key + 2 replica keys, 6 endpoints in 2 AZs."""
    endpoints = tuple(
        Endpoint(service, 2)
        for service in ("secretsmanager", "kms", "ssm", "ecr.api", "ecr.dkr", "logs")
    )
    result = estimate(
        footprint(secrets=10, replicas=20, keys=1, replica_keys=2, endpoints=endpoints),
        Assumptions(),
        us_prices(),
    )

    assert result.lines == (
        # 10 * 0.40 = 4.00
        line("Secrets Manager secrets", D(10), "secret-month", D("0.40"), D("4.00")),
        # 20 * 0.40 = 8.00
        line("Secrets Manager replicas", D(20), "replica-month", D("0.40"), D("8.00")),
        # 10 secrets * 10,000 reads / 10,000 = 10; 10 * 0.05 = 0.50 (replicas are not read)
        line("Secrets Manager API calls", D(10), "10,000 calls", D("0.05"), D("0.50")),
        # 1 * 1.00 = 1.00
        line("KMS keys", D(1), "key-month", D("1.00"), D("1.00")),
        # 2 * 1.00 = 2.00
        line("KMS replica keys", D(2), "key-month", D("1.00"), D("2.00")),
        # one Decrypt per read: 100,000 / 10,000 = 10; 10 * 0.03 = 0.30
        line("KMS requests", D(10), "10,000 requests", D("0.03"), D("0.30")),
        # 6 endpoints * 2 AZs * 730 hours = 8,760; 8,760 * 0.01 = 87.60
        line("Interface endpoint hours", D(8760), "endpoint-AZ-hour", D("0.01"), D("87.60")),
        # 6 endpoints * 1 GB = 6; 6 * 0.01 = 0.06
        line("Interface endpoint data processed", D(6), "GB", D("0.01"), D("0.06")),
    )
    # 4.00 + 8.00 + 0.50 + 1.00 + 2.00 + 0.30 + 87.60 + 0.06
    assert result.total == D("103.46")
    assert str(result.total) == "103.46"  # two places, as rendered


def test_assumptions_name_the_price_date_basis_and_usage() -> None:
    result = estimate(
        footprint(secrets=1, endpoints=(Endpoint("kms", 3),)), Assumptions(), us_prices()
    )
    sentences = result.assumptions

    assert sentences[0] == (
        "Prices are USD list prices for us-east-1, each line at its own region's price, "
        "recorded by hand from AWS's pricing pages (prices.json gives each one's page and the "
        "date it was read) and not fetched: the report runs offline."
    )
    assert not any("assumed" in sentence for sentence in sentences)  # us-east-1 has every price
    assert "A month is 730 hours." in sentences
    text = " ".join(sentences)
    assert "read 10,000 times a month (GetSecretValue)" in text
    assert "counted against primary secrets only" in text
    assert "one kms:Decrypt request" in text
    assert "Parameter Store is set to standard throughput." in text
    assert "Each interface endpoint processes 1 GB a month; endpoints: kms in 3 AZs." in text


def test_odd_prices_round_each_line_half_up_and_total_the_rounded_lines() -> None:
    result = estimate(
        footprint(secrets=3, replicas=1, keys=1, replica_keys=1, endpoints=(Endpoint("kms", 3),)),
        Assumptions(reads_per_secret_per_month=15_000, endpoint_gb_per_month=D("0.5")),
        ODD_PRICES,
    )
    monthly = {line.item: line.monthly for line in result.lines}

    assert monthly == {
        # 3 * 0.335 = 1.005 -> 1.01 (half-even would give 1.00)
        "Secrets Manager secrets": D("1.01"),
        # 1 * 0.3349 = 0.3349 -> 0.33
        "Secrets Manager replicas": D("0.33"),
        # 3 * 15,000 / 10,000 = 4.5; 4.5 * 0.0125 = 0.05625 -> 0.06
        "Secrets Manager API calls": D("0.06"),
        # 1 * 1.005 = 1.005 -> 1.01
        "KMS keys": D("1.01"),
        # 1 * 0.994 -> 0.99
        "KMS replica keys": D("0.99"),
        # 45,000 decrypts / 10,000 = 4.5; 4.5 * 0.0345 = 0.15525 -> 0.16
        "KMS requests": D("0.16"),
        # 3 AZs * 720 hours = 2,160; 2,160 * 0.0133 = 28.728 -> 28.73
        "Interface endpoint hours": D("28.73"),
        # 1 endpoint * 0.5 GB = 0.5; 0.5 * 0.0085 = 0.00425 -> 0.00, still shown: quantity 0.5
        "Interface endpoint data processed": D("0.00"),
    }
    quantities = {line.item: line.quantity for line in result.lines}
    assert quantities["Secrets Manager API calls"] == D("4.5")
    assert quantities["Interface endpoint hours"] == D(2160)
    assert quantities["Interface endpoint data processed"] == D("0.5")
    # 1.01 + 0.33 + 0.06 + 1.01 + 0.99 + 0.16 + 28.73 + 0.00 = 32.29, whereas the unrounded
    # sum 32.2826 would round to 32.28: the total matches the lines the reader sees.
    assert result.total == D("32.29")
    assert result.assumptions[0].startswith("Prices are USD list prices for test-region-1, ")
    assert "A month is 720 hours." in result.assumptions


PARAMETERS = {"standard_parameters": 20, "advanced_parameters": 5, "secure_string_parameters": 8}


def test_parameters_at_standard_throughput_cost_only_advanced_tier_and_decrypts() -> None:
    result = estimate(footprint(**PARAMETERS), Assumptions(), us_prices())

    assert result.lines == (
        # 8 SecureStrings * 10,000 reads / 10,000 = 8; 8 * 0.03 = 0.24
        line("KMS requests", D(8), "10,000 requests", D("0.03"), D("0.24")),
        # 20 * 0.00 = 0.00: counted and free
        line("Standard parameters", D(20), "parameter-month", D("0.00"), D("0.00")),
        # 5 * 0.05 = 0.25
        line("Advanced parameters", D(5), "parameter-month", D("0.05"), D("0.25")),
        # 25 parameters * 10,000 / 10,000 = 25; 25 * 0.00 = 0.00 at standard throughput
        line(
            "Parameter Store API calls (standard throughput)",
            D(25),
            "10,000 calls",
            D("0.00"),
            D("0.00"),
        ),
    )
    # 0.24 + 0.00 + 0.25 + 0.00
    assert result.total == D("0.49")


def test_parameters_at_higher_throughput_pay_for_every_call() -> None:
    result = estimate(footprint(**PARAMETERS), Assumptions(higher_throughput=True), us_prices())

    assert result.lines[-1] == line(
        # 25 parameters * 10,000 / 10,000 = 25; 25 * 0.05 = 1.25
        "Parameter Store API calls (higher throughput)",
        D(25),
        "10,000 calls",
        D("0.05"),
        D("1.25"),
    )
    # 0.24 KMS + 0.00 standard + 0.25 advanced + 1.25 API
    assert result.total == D("1.74")
    assert "higher throughput, so every parameter API call is charged" in " ".join(
        result.assumptions
    )


def test_odd_parameter_prices_round_half_up() -> None:
    result = estimate(
        footprint(standard_parameters=1, advanced_parameters=2, secure_string_parameters=1),
        Assumptions(parameter_reads_per_month=5_000, higher_throughput=True),
        ODD_PRICES,
    )

    assert {line.item: line.monthly for line in result.lines} == {
        # 1 * 5,000 / 10,000 = 0.5; 0.5 * 0.0345 = 0.01725 -> 0.02
        "KMS requests": D("0.02"),
        "Standard parameters": D("0.00"),
        # 2 * 0.0625 = 0.125 -> 0.13 (half-even would give 0.12)
        "Advanced parameters": D("0.13"),
        # 3 * 5,000 / 10,000 = 1.5; 1.5 * 0.045 = 0.0675 -> 0.07
        "Parameter Store API calls (higher throughput)": D("0.07"),
    }
    assert result.total == D("0.22")  # 0.02 + 0.00 + 0.13 + 0.07


def test_nothing_deployed_has_no_lines_and_a_zero_total() -> None:
    result = estimate(footprint(), Assumptions(), us_prices())

    assert result.lines == ()
    assert result.total == D("0")
    assert str(result.total) == "0.00"
    assert result.assumptions  # the basis is stated even when there is nothing to price


def test_zero_quantity_lines_are_omitted() -> None:
    # Unread secrets: no API calls and so no decrypts; endpoints moving no data.
    result = estimate(
        footprint(secrets=2, endpoints=(Endpoint("secretsmanager", 1),)),
        Assumptions(reads_per_secret_per_month=0, endpoint_gb_per_month=D("0")),
        us_prices(),
    )

    assert [(line.item, line.monthly) for line in result.lines] == [
        ("Secrets Manager secrets", D("0.80")),  # 2 * 0.40
        ("Interface endpoint hours", D("7.30")),  # 1 AZ * 730 hours * 0.01
    ]
    assert result.total == D("8.10")


def test_footprint_and_assumptions_refuse_impossible_counts() -> None:
    with pytest.raises(ValueError, match="secure_string_parameters are a subset"):
        footprint(standard_parameters=1, advanced_parameters=1, secure_string_parameters=3)
    with pytest.raises(ValueError, match="secrets must not be negative, got -1"):
        footprint(secrets=-1)
    with pytest.raises(ValueError, match="availability_zones must be at least 1"):
        Endpoint("kms", 0)
    with pytest.raises(ValueError, match="reads per month must not be negative"):
        Assumptions(reads_per_secret_per_month=-1)


def plain(name: str) -> SecretTraits:
    return SecretTraits(name, rotates=False, replicas=0, cross_account_readers=())


def test_advice_for_secrets_that_use_nothing_only_secrets_manager_offers() -> None:
    secrets = [
        plain("api-token"),
        replace(plain("db-credentials"), rotates=True),
        replace(plain("signing-key"), replicas=1),
        replace(plain("partner-key"), cross_account_readers=("111122223333",)),
        plain("webhook-secret"),
    ]

    advice = secure_string_advice(secrets, Assumptions(), us_prices())

    # Input order, qualifying secrets only. Saving: 0.40 storage + 10,000 / 10,000 * 0.05 API
    # = 0.45 as a secret, against 0.00 storage + free standard-throughput calls as a parameter.
    assert [(item.name, item.saving_per_month) for item in advice] == [
        ("api-token", D("0.45")),
        ("webhook-secret", D("0.45")),
    ]
    reason = advice[0].reason
    assert reason.startswith("It never rotates, has no replicas and no cross-account reader")
    assert "KMS cost is the same either way" in reason
    for loss in ("rotation schedule", "cross-region replicas", "resource policy for other"):
        assert loss in reason
    assert "4 KB standard-tier limit (a secret holds up to 64 KB)" in reason


def test_advice_saving_counts_higher_throughput_calls_against_the_parameter() -> None:
    advice = secure_string_advice(
        [plain("api-token")], Assumptions(higher_throughput=True), us_prices()
    )

    # 0.40 + 1 * 0.05 as a secret, minus 0.00 + 1 * 0.05 as a parameter = 0.40
    assert advice == (Advice("api-token", D("0.40"), advice[0].reason),)


def test_advice_saving_rounds_half_up_and_skips_when_nothing_is_saved() -> None:
    # 0.40 + 25,000 / 10,000 * 0.05 = 0.525 -> 0.53
    advice = secure_string_advice(
        [plain("api-token")], Assumptions(reads_per_secret_per_month=25_000), us_prices()
    )
    assert advice[0].saving_per_month == D("0.53")

    # At ODD_PRICES with higher throughput and 1,000,000 reads: 0.335 + 100 * 0.0125 = 1.585 as
    # a secret, 0 + 100 * 0.045 = 4.50 as a parameter; moving it would cost more.
    costlier = Assumptions(reads_per_secret_per_month=1_000_000, higher_throughput=True)
    assert secure_string_advice([plain("api-token")], costlier, ODD_PRICES) == ()


def packaged_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PACKAGED.read_text())
    return document


US = ("regions", "us-east-1")
EU = ("regions", "eu-west-1")


def _at(document: dict[str, Any], *path: str) -> Any:
    for key in path:
        document = document[key]
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: _at(d, *US, "kms", "prices").pop("key_per_month"),
            "prices.json: regions.us-east-1.kms.prices.key_per_month: missing",
        ),
        (
            lambda d: _at(d, *US, "kms", "prices").update(key_per_month="x"),
            "prices.json: regions.us-east-1.kms.prices.key_per_month: expected a decimal string, "
            "got 'x'",
        ),
        (
            # A JSON number would reach Decimal through a float.
            lambda d: _at(d, *US, "secrets_manager", "prices").update(secret_per_month=0.4),
            "prices.json: regions.us-east-1.secrets_manager.prices.secret_per_month: expected a "
            "decimal string, got 0.4",
        ),
        (
            lambda d: _at(d, *EU, "vpc_interface_endpoint", "prices").update(per_az_hour="NaN"),
            "prices.json: regions.eu-west-1.vpc_interface_endpoint.prices.per_az_hour: expected "
            "a decimal string, got 'NaN'",
        ),
        (
            lambda d: _at(d, *EU, "ssm_parameter_store", "prices").update(
                advanced_per_month="-0.05"
            ),
            "prices.json: regions.eu-west-1.ssm_parameter_store.prices.advanced_per_month: "
            "expected a decimal string, got '-0.05'",
        ),
        (
            lambda d: _at(d, *EU, "kms", "prices").update(key_per_year="12.00"),
            "prices.json: regions.eu-west-1.kms.prices.key_per_year: not a price (allowed: "
            "key_per_month, replica_key_per_month, requests_per_10000), got 'key_per_year'",
        ),
        (
            lambda d: _at(d, *EU).update(lambda_functions={}),
            "prices.json: regions.eu-west-1.lambda_functions: not a priced service (allowed: "
            "secrets_manager, kms, vpc_interface_endpoint, ssm_parameter_store), got "
            "'lambda_functions'",
        ),
        # The fallback region stands in for every other: it must have every price.
        (lambda d: _at(d, *US).pop("kms"), "prices.json: regions.us-east-1.kms: missing"),
        (
            lambda d: _at(d, *US).update(kms=[]),
            "prices.json: regions.us-east-1.kms: expected an object, got []",
        ),
        (
            lambda d: d.update(fallback_region="eu-south-2"),
            "prices.json: regions.eu-south-2: missing (the fallback_region)",
        ),
        (lambda d: d.pop("as_of"), "prices.json: as_of: missing"),
        (
            lambda d: d.update(hours_per_month="730"),
            "prices.json: hours_per_month: expected a positive integer, got '730'",
        ),
        # A price without the page it was read from is not a recorded price.
        (
            lambda d: _at(d, *EU, "kms").pop("sources"),
            "prices.json: regions.eu-west-1.kms.sources: missing",
        ),
        (
            lambda d: _at(d, *EU, "kms").update(sources=["http://example.com/"]),
            "prices.json: regions.eu-west-1.kms.sources: expected a list of https URLs, got "
            "['http://example.com/']",
        ),
        (
            lambda d: _at(d, *EU, "kms").pop("read"),
            "prices.json: regions.eu-west-1.kms.read: missing",
        ),
    ],
)
def test_load_prices_names_the_key_at_fault(tmp_path: Path, change: Any, message: str) -> None:
    document = packaged_document()
    change(document)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document))

    with pytest.raises(ValueError) as raised:
        load_prices(path)
    assert str(raised.value) == message


def test_load_prices_reads_an_explicit_path(tmp_path: Path) -> None:
    document = packaged_document()
    _at(document, *US, "kms", "prices")["key_per_month"] = "1.25"
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document))

    assert load_prices(path).for_region(US_EAST_1).key_per_month == D("1.25")


def test_packaged_prices_are_dated_sourced_and_parse() -> None:
    document = packaged_document()
    book = load_prices()

    assert book.as_of == document["as_of"] == "2026-11-24"
    assert (book.currency, book.fallback_region, book.hours_per_month) == ("USD", US_EAST_1, 730)
    us_east_1 = book.regions[US_EAST_1]
    assert {service: record.sources[0] for service, record in us_east_1.items()} == {
        "secrets_manager": "https://aws.amazon.com/secrets-manager/pricing/",
        "kms": "https://aws.amazon.com/kms/pricing/",
        "vpc_interface_endpoint": "https://aws.amazon.com/privatelink/pricing/",
        "ssm_parameter_store": "https://aws.amazon.com/systems-manager/pricing/",
    }
    # Every price in the file is a string that is an exact decimal, with a page and a date.
    for region, services in document["regions"].items():
        for service, record in services.items():
            assert record["sources"] and record["read"], f"{region}.{service}"
            for key, value in record["prices"].items():
                assert isinstance(value, str), f"{region}.{service}.{key}"
                assert D(value).is_finite(), f"{region}.{service}.{key}"
    prices = us_prices()
    assert prices.assumed == frozenset()
    assert tuple(getattr(prices, name) for name, _, _ in PRICE_KEYS) == tuple(
        D(price)
        for price in (
            "0.40", "0.40", "0.05", "1.00", "1.00", "0.03",
            "0.01", "0.01", "0.00", "0.05", "0.00", "0.05",
        )
    )  # fmt: skip


def test_every_region_of_the_shipped_app_has_its_recorded_prices() -> None:
    """eu-west-1 (every environment) and eu-central-1 (prod's replicas), from cdk.json."""
    config = json.loads((PACKAGED.parents[3] / "cdk.json").read_text())["context"]["strongbox"]
    regions = {
        region
        for environment in config["environments"].values()
        for region in [environment["region"], *environment["replica_regions"]]
    }
    book = load_prices()
    assert regions == {"eu-west-1", "eu-central-1"}
    for region in regions:
        prices = book.for_region(region)
        # AWS states these for every region; the rest are in per-region tables not found.
        assert {name for name, _, _ in PRICE_KEYS} - prices.assumed == {
            "key_per_month",
            "replica_key_per_month",
            "endpoint_per_gb",
            "standard_parameter_per_month",
            "standard_parameter_api_per_10000",
        }, region
        assert book.regions[region]["kms"].how.startswith("The page says each KMS key costs")


def test_a_region_is_priced_at_its_own_recorded_prices_and_the_rest_is_assumed(
    tmp_path: Path,
) -> None:
    document = packaged_document()
    _at(document, *EU, "vpc_interface_endpoint", "prices")["per_az_hour"] = "0.011"
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document))
    book = load_prices(path)
    endpoints = footprint(secrets=1, endpoints=(Endpoint("kms", 2),))
    result = estimate_by_region(
        {"eu-west-1": endpoints, "ap-south-2": footprint(replicas=1)}, Assumptions(), book
    )

    assert [
        (item.item, item.region, item.unit_price, item.price_region) for item in result.lines
    ] == [
        ("Secrets Manager secrets", "eu-west-1", D("0.40"), US_EAST_1),
        ("Secrets Manager API calls", "eu-west-1", D("0.05"), US_EAST_1),
        ("KMS requests", "eu-west-1", D("0.03"), US_EAST_1),
        # 2 AZs * 730 hours at eu-west-1's own 0.011 = 16.06
        ("Interface endpoint hours", "eu-west-1", D("0.011"), "eu-west-1"),
        ("Interface endpoint data processed", "eu-west-1", D("0.01"), "eu-west-1"),
        # Nothing is recorded for ap-south-2: every price there is us-east-1's.
        ("Secrets Manager replicas", "ap-south-2", D("0.40"), US_EAST_1),
    ]
    assert result.lines[3].monthly == D("16.06")
    assert result.total == D("0.40") + D("0.05") + D("0.03") + D("16.06") + D("0.01") + D("0.40")
    assert (
        "A price marked 'assumed: us-east-1 price' is us-east-1's: no eu-west-1 or ap-south-2 "
        "price for it was found published, so the real one may differ"
    ) in " ".join(result.assumptions)
    (advice,) = secure_string_advice(
        [plain("api-token")], Assumptions(), book.for_region("eu-west-1")
    )
    assert advice.assumed_from == US_EAST_1
    assert (
        secure_string_advice([plain("api-token")], Assumptions(), us_prices())[0].assumed_from
        is None
    )


@pytest.mark.parametrize(
    "name",
    [
        "db-password",
        "/app/prod/API_KEY",
        "/app/prod/api-key",
        "/app/prod/apikey",
        "github.token",
        "/stripe/secret/v2",
        "/app/client_secret",
        "/ci/aws-access-key",
        "/app/DB_PASSWD",
        "/app/service-credentials",
        "/tls/private-key",
        "/app/Tokens",
    ],
)
def test_credential_names_are_flagged(name: str) -> None:
    reason = looks_like_credential(name)

    assert reason is not None
    assert reason.startswith(f"the name {name!r} ends its segment")
    assert "SecureString" in reason


def test_the_reason_names_the_segment_and_word() -> None:
    assert looks_like_credential("/app/db-password") == (
        "the name '/app/db-password' ends its segment 'db-password' with 'password', which "
        "names a credential: a plaintext String parameter is readable by anyone allowed "
        "ssm:GetParameter, so keep it as a SecureString parameter or a secret"
    )


@pytest.mark.parametrize(
    "name",
    [
        "tokenizer-config",
        "secret-rotation-days",
        "/app/token-ttl",
        "/app/password-min-length",
        "/app/db-host",
        "/app/secretary-email",
        "/app/keyboard-layout",
        "/app/passwordless",
        "",
    ],
)
def test_configuration_names_are_not_flagged(name: str) -> None:
    assert looks_like_credential(name) is None
