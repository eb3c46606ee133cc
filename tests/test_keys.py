"""SecretsKey, SecretsReplicaKey and the KeyAccess policy model, as a library user uses them."""

from __future__ import annotations

import itertools
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from strongbox import KeyAccess, SecretsKey, SecretsReplicaKey
from strongbox.keys import key_policy_size
from tests.conftest import as_list, feature_flag_app

ACCOUNT = "333333333333"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/key-admin"
OTHER_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/break-glass"
CONSUMER_ROLE = "arn:aws:iam::555555555555:role/reporting-reader"


def make_stack(
    region: str = "eu-west-1", app: cdk.App | None = None, id_: str = "Keys"
) -> cdk.Stack:
    return cdk.Stack(
        app or feature_flag_app(), id_, env=cdk.Environment(account=ACCOUNT, region=region)
    )


def resolved_policy(access: KeyAccess) -> dict[str, Any]:
    policy: dict[str, Any] = make_stack().resolve(access.policy_document().to_json())
    return policy


def allow_statement(
    sid: str, actions: list[str] | str, resources: str = "*"
) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=sid,
        principals=[iam.ServicePrincipal("logs.eu-west-1.amazonaws.com")],
        actions=as_list(actions),
        resources=[resources],
    )


# Every combination of the inputs the policy is built from. Whatever a caller passes, an
# administrator statement with kms:PutKeyPolicy for the account root survives, nothing denies it,
# and no wildcard principal goes without a condition.
ADMINISTRATORS: list[tuple[str, ...]] = [(), (ADMIN,), (ADMIN, OTHER_ADMIN)]
REGIONS: list[tuple[str, ...]] = [
    ("eu-west-1",),
    ("eu-west-1", "eu-central-1"),
    ("eu-west-1", "eu-central-1", "us-east-1"),
]
CONSUMERS: list[tuple[str, ...]] = [(), ("444444444444",), ("444444444444", CONSUMER_ROLE)]
EXTRAS: list[tuple[iam.PolicyStatement, ...]] = [
    (),
    (allow_statement("LogsEncrypt", ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"]),),
    (
        iam.PolicyStatement(
            sid="DenyDecryptOutsideOrg",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:Decrypt"],
            resources=["*"],
            conditions={"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}},
        ),
    ),
    (
        iam.PolicyStatement(
            sid="AnyoneInOrgDescribes",
            principals=[iam.AnyPrincipal()],
            actions=["kms:DescribeKey"],
            resources=["*"],
            conditions={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
        ),
    ),
]


@pytest.mark.parametrize(
    ("administrators", "regions", "consumers", "extras"),
    list(itertools.product(ADMINISTRATORS, REGIONS, CONSUMERS, EXTRAS)),
)
def test_no_combination_of_inputs_locks_out_the_administrators(
    administrators: tuple[str, ...],
    regions: tuple[str, ...],
    consumers: tuple[str, ...],
    extras: tuple[iam.PolicyStatement, ...],
) -> None:
    access = KeyAccess(
        account=ACCOUNT,
        regions=regions,
        administrators=administrators,
        cross_account_consumers=consumers,
        additional_statements=extras,
    )
    statements = resolved_policy(access)["Statement"]

    administration = [
        s
        for s in statements
        if s["Effect"] == "Allow"
        and "kms:PutKeyPolicy" in as_list(s["Action"])
        and ROOT_ARN in as_list(s["Principal"]["AWS"])
        and "Condition" not in s
    ]
    assert len(administration) == 1
    assert set(administrators) <= set(as_list(administration[0]["Principal"]["AWS"]))
    for statement in statements:
        if statement["Effect"] == "Deny":
            assert "kms:PutKeyPolicy" not in as_list(statement.get("Action", []))
            assert not any(a in ("*", "kms:*", "kms:Put*") for a in as_list(statement["Action"]))
        if statement["Principal"] in ("*", {"AWS": "*"}):
            assert statement.get("Condition"), statement


def test_policy_statements_for_every_role() -> None:
    access = KeyAccess(
        account=ACCOUNT,
        regions=("eu-west-1", "eu-central-1"),
        administrators=(ADMIN,),
        cross_account_consumers=("444444444444", CONSUMER_ROLE),
    )
    by_sid = {s["Sid"]: s for s in resolved_policy(access)["Statement"]}

    assert sorted(by_sid) == [
        "CrossAccountDecrypt444444444444",
        "CrossAccountDecrypt555555555555ReportingReader",
        "KeyAdministration",
        "UseThroughSecretsManagerAndSsm",
    ]
    admin = by_sid["KeyAdministration"]
    assert sorted(admin["Principal"]["AWS"]) == [ADMIN, ROOT_ARN]
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:ReplicateKey"} <= set(
        admin["Action"]
    )
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:CreateGrant"} & set(admin["Action"])

    use = by_sid["UseThroughSecretsManagerAndSsm"]
    assert use["Principal"] == {"AWS": ROOT_ARN}
    assert use["Action"] == [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey*",
    ]
    assert use["Condition"] == {
        "StringEquals": {
            "kms:CallerAccount": ACCOUNT,
            "kms:ViaService": [
                "secretsmanager.eu-west-1.amazonaws.com",
                "ssm.eu-west-1.amazonaws.com",
                "secretsmanager.eu-central-1.amazonaws.com",
                "ssm.eu-central-1.amazonaws.com",
            ],
        }
    }
    role_consumer = by_sid["CrossAccountDecrypt555555555555ReportingReader"]
    assert role_consumer["Principal"] == {"AWS": CONSUMER_ROLE}
    assert role_consumer["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert role_consumer["Condition"] == {
        "StringEquals": {
            "kms:CallerAccount": "555555555555",
            "kms:ViaService": [
                "secretsmanager.eu-west-1.amazonaws.com",
                "secretsmanager.eu-central-1.amazonaws.com",
            ],
        }
    }


def test_alert_publishers_use_the_key_only_for_this_account_where_aws_supports_it() -> None:
    """Confused deputy: CloudWatch may use the key only for this account's alarms in the key's
    regions (aws:SourceAccount, aws:SourceArn). AWS documents that these keys are not supported
    in a key policy for EventBridge publishing to an encrypted topic, so its statement has none
    (its topic policy names the rules)."""
    access = KeyAccess(account=ACCOUNT, regions=("eu-west-1", "eu-central-1"), encrypts_alerts=True)
    by_sid = {s["Sid"]: s for s in resolved_policy(access)["Statement"]}

    alarms = by_sid["CloudWatchAlarmsUseEncryptedTopics"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {
            "aws:SourceArn": [
                f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:*",
                f"arn:aws:cloudwatch:eu-central-1:{ACCOUNT}:alarm:*",
            ]
        },
    }
    rules = by_sid["EventBridgeUsesEncryptedTopics"]
    assert rules["Principal"] == {"Service": "events.amazonaws.com"}
    assert rules["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "Condition" not in rules


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["kms:*"],
                resources=["*"],
                conditions={"Bool": {"aws:SecureTransport": "false"}},
            ),
            "a Deny that covers kms:PutKeyPolicy could lock the administrators out",
        ),
        (
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                principals=[iam.ArnPrincipal(ADMIN)],
                actions=["kms:Put*"],
                resources=["*"],
            ),
            "a Deny that covers kms:PutKeyPolicy",
        ),
        (
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                not_actions=["kms:Decrypt"],
                resources=["*"],
                conditions={"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}},
            ),
            "a Deny that covers kms:PutKeyPolicy",
        ),
        (
            iam.PolicyStatement(
                principals=[iam.AnyPrincipal()], actions=["kms:Decrypt"], resources=["*"]
            ),
            "a statement with Principal '\\*' must have a Condition",
        ),
        (
            iam.PolicyStatement.from_json(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                }
            ),
            "a statement with Principal '\\*' must have a Condition",
        ),
    ],
)
def test_unsafe_additional_statements_are_refused(
    statement: iam.PolicyStatement, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        KeyAccess(account=ACCOUNT, regions=("eu-west-1",), additional_statements=(statement,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"account": "3333"}, "account must be a 12-digit AWS account id"),
        ({"regions": ()}, "regions must name at least the primary region"),
        (
            {"administrators": ("arn:aws:iam::444444444444:role/admin",)},
            "is not an IAM role ARN in 333333333333",
        ),
        ({"administrators": ("key-admin",)}, "is not an IAM role ARN in 333333333333"),
        (
            {"cross_account_consumers": (ACCOUNT,)},
            "is in the key's own account; same-account readers get access through IAM",
        ),
        (
            {"cross_account_consumers": ("arn:aws:iam::444444444444:user/bob",)},
            "is neither a 12-digit account id nor an IAM role ARN",
        ),
        # A final newline, or digits of another script, are not an account id.
        ({"account": ACCOUNT + "\n"}, "account must be a 12-digit AWS account id"),
        ({"account": "\u0663" * 12}, "account must be a 12-digit AWS account id"),
        (
            {"administrators": (f"arn:aws:iam::{ACCOUNT}:role/admin\n",)},
            "is not an IAM role ARN in 333333333333",
        ),
        (
            {"cross_account_consumers": ("444444444444\n",)},
            "is neither a 12-digit account id nor an IAM role ARN",
        ),
        (
            {"cross_account_consumers": ("\u0664" * 12,)},
            "is neither a 12-digit account id nor an IAM role ARN",
        ),
    ],
)
def test_key_access_validation(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"account": ACCOUNT, "regions": ("eu-west-1",), **kwargs}
    with pytest.raises(ValueError, match=message):
        KeyAccess(**arguments)


def test_secrets_key_is_multi_region_unless_asked_not_to() -> None:
    """Multi-region by default so the first replica region never replaces the key."""
    cases = (
        (("eu-west-1",), True, True),
        (("eu-west-1", "eu-central-1"), True, True),
        (("eu-west-1",), False, False),
    )
    for regions, option, multi_region in cases:
        stack = make_stack()
        SecretsKey(
            stack,
            "SecretsKey",
            application="payments",
            environment_name="prod",
            access=KeyAccess(account=ACCOUNT, regions=regions),
            multi_region=option,
        )
        properties = Template.from_stack(stack).find_resources("AWS::KMS::Key")
        (key,) = properties.values()
        assert key["Properties"].get("MultiRegion", False) is multi_region
    with pytest.raises(ValueError, match="multi_region=False cannot have replica regions"):
        SecretsKey(
            make_stack(),
            "SecretsKey",
            application="payments",
            environment_name="prod",
            access=KeyAccess(account=ACCOUNT, regions=("eu-west-1", "eu-central-1")),
            multi_region=False,
        )


def test_secrets_key_options_are_validated() -> None:
    access = KeyAccess(account=ACCOUNT, regions=("eu-west-1",))
    with pytest.raises(ValueError, match="rotation_period must be 90-2560 days, got 30"):
        SecretsKey(
            make_stack(),
            "K",
            application="a",
            environment_name="dev",
            access=access,
            rotation_period=cdk.Duration.days(30),
        )
    with pytest.raises(ValueError, match="pending_window must be 7-30 days, got 31"):
        SecretsKey(
            make_stack(),
            "K",
            application="a",
            environment_name="dev",
            access=access,
            pending_window=cdk.Duration.days(31),
        )
    with pytest.raises(ValueError, match=r"access\.regions must start with the key's own region"):
        SecretsKey(
            make_stack(region="us-east-1"),
            "K",
            application="a",
            environment_name="dev",
            access=access,
        )


def test_replica_key_arn_is_derived_from_the_key_id_per_region() -> None:
    app = feature_flag_app()
    keys_stack = make_stack(app=app)
    key = SecretsKey(
        keys_stack,
        "SecretsKey",
        application="payments",
        environment_name="prod",
        access=KeyAccess(account=ACCOUNT, regions=("eu-west-1", "eu-central-1")),
    )
    key_logical_id = keys_stack.get_logical_id(key.key.node.default_child)  # type: ignore[arg-type]

    assert keys_stack.resolve(key.key_arn_in(keys_stack, "eu-central-1")) == {
        "Fn::Join": ["", ["arn:aws:kms:eu-central-1:333333333333:key/", {"Ref": key_logical_id}]]
    }
    assert keys_stack.resolve(key.key_arn_in(keys_stack, "eu-west-1")) == {
        "Fn::Join": ["", ["arn:aws:kms:eu-west-1:333333333333:key/", {"Ref": key_logical_id}]]
    }
    with pytest.raises(ValueError, match="us-east-1 is not a region of this key"):
        key.key_arn_in(keys_stack, "us-east-1")


def primary_key(app: cdk.App) -> SecretsKey:
    return SecretsKey(
        make_stack(app=app),
        "SecretsKey",
        application="payments",
        environment_name="prod",
        access=KeyAccess(account=ACCOUNT, regions=("eu-west-1", "eu-central-1")),
    )


def test_replica_key_only_in_a_replica_region() -> None:
    app = feature_flag_app()
    with pytest.raises(ValueError, match=r"a replica key in us-east-1 needs us-east-1 among"):
        SecretsReplicaKey(
            make_stack("us-east-1", app, "Wrong"), "Replica", primary=primary_key(app)
        )


def test_replica_key_copies_the_primary_settings() -> None:
    app = feature_flag_app()
    primary = primary_key(app)
    replica_stack = make_stack("eu-central-1", app, "Replica")
    SecretsReplicaKey(
        replica_stack, "Replica", primary=primary, removal_policy=cdk.RemovalPolicy.DESTROY
    )
    template = Template.from_stack(replica_stack)
    (replica,) = template.find_resources("AWS::KMS::ReplicaKey").values()
    assert replica["DeletionPolicy"] == "Delete"
    assert replica["Properties"]["PendingWindowInDays"] == 30
    assert replica["Properties"]["Description"] == "Encrypts payments prod secrets (Strongbox)"
    template.has_resource_properties(
        "AWS::KMS::Alias", {"AliasName": "alias/payments/prod/secrets"}
    )


def _deployed(value: Any) -> Any:
    """A resolved template value as CloudFormation hands it to KMS: partition joins as text."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join("aws" if p == {"Ref": "AWS::Partition"} else p for p in parts)
        return {key: _deployed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deployed(item) for item in value]
    return value


@pytest.mark.parametrize("readers", [0, 1, 30, 89])
@pytest.mark.parametrize("roles", [False, True])
@pytest.mark.parametrize("regions", [("eu-west-1",), ("eu-west-1", "eu-central-1", "us-east-1")])
def test_key_policy_size_bounds_the_policy_kms_receives(
    readers: int, roles: bool, regions: tuple[str, ...]
) -> None:
    """The estimate config uses to refuse too many cross-account readers is never below the
    real policy, and not far above it."""
    stack = cdk.Stack(cdk.App(), "Keys", env=cdk.Environment(account=ACCOUNT, region=regions[0]))
    consumers = tuple(
        f"arn:aws:iam::{400000000000 + i}:role/team/reporting-reader-{i}"
        if roles
        else str(400000000000 + i)
        for i in range(readers)
    )
    administrators = (f"arn:aws:iam::{ACCOUNT}:role/strongbox-key-admin",)
    access = KeyAccess(
        account=ACCOUNT, regions=regions, administrators=administrators,
        cross_account_consumers=consumers, encrypts_log_groups=True, encrypts_alerts=True,
        encrypts_databases=True,
    )  # fmt: skip
    document = _deployed(stack.resolve(access.policy_document().to_json()))
    real = len(json.dumps(document, separators=(",", ":")))
    estimate = key_policy_size(
        partition="aws", regions=regions, administrators=administrators,
        cross_account_consumers=consumers,
    )  # fmt: skip

    assert real <= estimate <= real * 1.2, (real, estimate)
