"""The library used from someone else's CDK app: constructs fail closed, every door to a secret
grants what a read needs, a SecretsKey goes wherever a key does, names never collide."""

from __future__ import annotations

import inspect
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

import strongbox
from constructs import Construct
from strongbox import (
    FAIL_SYNTH_ON_VALIDATION_ERRORS,
    FixedZonesStack,
    KeyAccess,
    ManagedSecret,
    ParameterTree,
    RotationFunction,
    RotationSchedule,
    SecretConsumer,
    SecretReadingFunction,
    SecretsKey,
    SecretUse,
    StrongboxError,
    TaskExecutionRole,
    acknowledge,
    encrypted_log_group,
    synthesize,
)
from tests.conftest import as_list, feature_flag_app, imported_isolated_vpc

ACCOUNT = "333333333333"
ENV = cdk.Environment(account=ACCOUNT, region="eu-west-1")
REASON = "Issued by the partner's dashboard; its owner rotates it there."
ISOLATED = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)


class App:
    """A stack with a SecretsKey (application payments, environment prod) and one secret."""

    def __init__(self) -> None:
        self.app = feature_flag_app()
        self.stack = cdk.Stack(self.app, "Service", env=ENV)
        self.key = SecretsKey(
            self.stack,
            "Key",
            application="payments",
            environment_name="prod",
            access=KeyAccess(account=ACCOUNT, regions=("eu-west-1",), encrypts_log_groups=True),
        )
        self.secret = self.api_key("partner-api-key")

    def api_key(
        self, purpose: str, scope: Construct | None = None, reason: str | None = REASON
    ) -> ManagedSecret:
        return ManagedSecret(
            scope or self.stack,
            "".join(part.capitalize() for part in purpose.split("-")),
            purpose=purpose,
            kind="api-key",
            description="The partner's API token",
            owner="team-payments",
            encryption_key=self.key,
            rotation_disabled_reason=reason,
        )

    def role(self, id_: str = "Reader") -> iam.Role:
        return iam.Role(self.stack, id_, assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))

    def statements_of(self, role: iam.Role) -> list[dict[str, Any]]:
        """Every statement of every inline and managed policy that reaches `role`."""
        template = Template.from_stack(self.stack).to_json()["Resources"]
        role_ref = {"Ref": self.stack.get_logical_id(role.node.default_child)}  # type: ignore[arg-type]
        attached = [
            ref["Ref"]
            for ref in template[role_ref["Ref"]]["Properties"].get("ManagedPolicyArns", [])
            if isinstance(ref, dict) and "Ref" in ref
        ]
        statements: list[dict[str, Any]] = []
        for logical_id, resource in template.items():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            if role_ref in resource["Properties"].get("Roles", []) or logical_id in attached:
                statements += resource["Properties"]["PolicyDocument"]["Statement"]
        return statements


def decrypt_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if "kms:Decrypt" in as_list(s["Action"])]


# -- 1. a consumer never attaches to nothing ---------------------------------------------------


def test_a_consumer_attached_to_no_role_fails_synth_naming_it() -> None:
    built = App()
    SecretConsumer(built.stack, "Api", secrets=[SecretUse("PARTNER_TOKEN", built.secret)])

    with pytest.raises(
        RuntimeError, match=r"\[Service/Api\] SecretConsumer is attached to no role"
    ):
        built.app.synth()


def test_a_consumer_attached_to_a_role_that_drops_updates_is_named_by_its_policy() -> None:
    built = App()
    consumer = SecretConsumer(
        built.stack, "Api", secrets=[SecretUse("PARTNER_TOKEN", built.secret)]
    )
    role = built.role()
    consumer.attach_to(role.without_policy_updates())

    policy = Template.from_stack(built.stack).to_json()["Resources"][
        built.stack.get_logical_id(consumer.policies[0].node.default_child)  # type: ignore[arg-type]
    ]
    assert policy["Properties"]["Roles"] == [
        {"Ref": built.stack.get_logical_id(role.node.default_child)}  # type: ignore[arg-type]
    ]


def test_a_consumer_refuses_a_role_of_another_account() -> None:
    built = App()
    consumer = SecretConsumer(
        built.stack, "Api", secrets=[SecretUse("PARTNER_TOKEN", built.secret)]
    )
    other = iam.Role.from_role_arn(
        built.stack, "Other", "arn:aws:iam::444444444444:role/partner-reader"
    )
    with pytest.raises(StrongboxError, match=r"^Service/Api: attach_to: the role is in account "):
        consumer.attach_to(other)


# -- 2. every door to a ManagedSecret grants decrypt on its key --------------------------------


def ecs_secret_door(built: App, role: iam.Role) -> None:
    task = ecs.FargateTaskDefinition(built.stack, "Task", execution_role=role)
    task.add_container(
        "Api",
        image=ecs.ContainerImage.from_registry("example.invalid/api:1"),
        secrets={"PARTNER_TOKEN": ecs.Secret.from_secrets_manager(built.secret.secret)},
    )


DOORS: dict[str, Callable[[App, iam.Role], object]] = {
    "ManagedSecret.grant_read": lambda built, role: built.secret.grant_read(role),
    "ManagedSecret.secret.grant_read": lambda built, role: built.secret.secret.grant_read(role),
    "ecs.Secret.from_secrets_manager": ecs_secret_door,
}


@pytest.mark.parametrize("door", DOORS)
def test_every_door_grants_decrypt_on_the_secrets_key_through_secrets_manager(door: str) -> None:
    built = App()
    role = built.role()
    DOORS[door](built, role)
    statements = built.statements_of(role)
    key_arn = {"Fn::GetAtt": [built.stack.get_logical_id(built.key.key.node.default_child), "Arn"]}  # type: ignore[arg-type]
    secret_ref = {"Ref": built.stack.get_logical_id(built.secret.secret.node.default_child)}  # type: ignore[arg-type]

    assert decrypt_statements(statements) == [
        {
            "Action": "kms:Decrypt",
            "Condition": {
                "StringEquals": {"kms:ViaService": ["secretsmanager.eu-west-1.amazonaws.com"]}
            },
            "Effect": "Allow",
            "Resource": key_arn,
        }
    ]
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    assert [as_list(s["Resource"]) for s in reads] == [[secret_ref]]


def test_grant_read_refuses_another_accounts_principal() -> None:
    built = App()
    with pytest.raises(
        StrongboxError, match="grant_read cannot grant 444444444444, another account"
    ):
        built.secret.secret.grant_read(iam.AccountPrincipal("444444444444"))


# -- 3. a SecretsKey wherever a key is taken ---------------------------------------------------


def test_a_secrets_key_is_accepted_wherever_a_key_is_taken() -> None:
    built = App()
    vpc = imported_isolated_vpc(built.stack)
    rotation = RotationFunction(
        built.stack, "Rotation", vpc=vpc, vpc_subnets=ISOLATED, vpc_cidr="10.0.0.0/16",
        encryption_key=built.key,
    )  # fmt: skip
    rotation.rotate(built.api_key("webhook-secret", reason=None), RotationSchedule("rate(30 days)"))
    consumer = SecretConsumer(
        built.stack, "Reads", secrets=[SecretUse("PARTNER_TOKEN", built.secret)]
    )
    SecretReadingFunction(
        built.stack, "Reader", consumer=consumer, description="reads the partner token",
        vpc=vpc, vpc_subnets=ISOLATED, vpc_cidr="10.0.0.0/16", encryption_key=built.key,
    )  # fmt: skip
    tree = ParameterTree(
        built.stack, "Tree", encryption_key=built.key, vpc=vpc, vpc_subnets=ISOLATED,
        vpc_cidr="10.0.0.0/16",
    )  # fmt: skip
    encrypted_log_group(
        built.stack, "Audit", encryption_key=built.key, removal_policy=cdk.RemovalPolicy.DESTROY
    )
    key_arn = {"Fn::GetAtt": [built.stack.get_logical_id(built.key.key.node.default_child), "Arn"]}  # type: ignore[arg-type]
    groups = Template.from_stack(built.stack).find_resources("AWS::Logs::LogGroup")

    # Named from the key: application payments, environment prod.
    assert built.secret.secret_name.split("/") == ["prod", "payments", "partner-api-key"]
    assert tree.path == "/payments/prod/"
    assert len(groups) == 3  # the two functions' and the audit group
    assert all(group["Properties"]["KmsKeyId"] == key_arn for group in groups.values())


def test_a_plain_key_still_needs_application_and_environment_name() -> None:
    built = App()
    with pytest.raises(StrongboxError, match="application is required unless encryption_key is a"):
        ManagedSecret(
            built.stack, "Plain", purpose="plain", kind="api-key", description="d",
            owner="o", encryption_key=built.key.key, rotation_disabled_reason=REASON,
        )  # fmt: skip


# -- 4. names that would collide at deploy -----------------------------------------------------


def test_two_secrets_with_one_name_fail_synth_naming_both() -> None:
    built = App()
    elsewhere = cdk.Stack(built.app, "Elsewhere", env=ENV)
    with pytest.raises(
        StrongboxError,
        match=r"^Elsewhere/PartnerApiKey: secret 'prod/payments/partner-api-key' is already "
        r"created by Service/PartnerApiKey in 333333333333/eu-west-1",
    ):
        built.api_key("partner-api-key", scope=elsewhere)


def test_the_same_name_in_another_region_is_another_secret() -> None:
    built = App()
    ireland_key = built.key
    frankfurt = cdk.Stack(
        built.app, "Frankfurt", env=cdk.Environment(account=ACCOUNT, region="eu-central-1")
    )
    built.key = SecretsKey(
        frankfurt, "Key", application="payments", environment_name="prod",
        access=KeyAccess(account=ACCOUNT, regions=("eu-central-1",)),
    )  # fmt: skip
    built.api_key("partner-api-key", scope=frankfurt)
    assert ireland_key.alias_name == built.key.alias_name


def test_two_keys_with_one_alias_fail_synth() -> None:
    built = App()
    with pytest.raises(StrongboxError, match="KMS alias 'alias/payments/prod/secrets' is already"):
        SecretsKey(
            built.stack, "Again", application="payments", environment_name="prod",
            access=KeyAccess(account=ACCOUNT, regions=("eu-west-1",)),
        )  # fmt: skip


# -- 5. the execution role, ready-made ---------------------------------------------------------


def test_task_execution_role_starts_a_task_with_exactly_its_grants_and_no_finding() -> None:
    built = App()
    consumer = SecretConsumer(
        built.stack, "Api", secrets=[SecretUse("PARTNER_TOKEN", built.secret)]
    )
    logs = encrypted_log_group(
        built.stack, "Logs", encryption_key=built.key, removal_policy=cdk.RemovalPolicy.DESTROY
    )
    repository = ecr.Repository.from_repository_name(built.stack, "Repository", "payments/api")
    execution = TaskExecutionRole(
        built.stack, "Execution", consumer=consumer, log_group=logs, repository=repository
    )
    task = ecs.FargateTaskDefinition(
        built.stack, "Task", execution_role=execution.role_for_task_definition
    )
    task.add_container(
        "api",
        image=ecs.ContainerImage.from_ecr_repository(repository, "1.0.0"),
        secrets=consumer.ecs_secrets(),
        logging=ecs.LogDriver.aws_logs(stream_prefix="api", log_group=logs),
    )
    statements = built.statements_of(execution.role)
    logs_arn = {"Fn::GetAtt": [built.stack.get_logical_id(logs.node.default_child), "Arn"]}  # type: ignore[arg-type]

    assert sorted(a for s in statements for a in as_list(s["Action"])) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetAuthorizationToken",
        "ecr:GetDownloadUrlForLayer",
        "kms:Decrypt",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
    ]
    (log_statement,) = [s for s in statements if "logs:PutLogEvents" in as_list(s["Action"])]
    assert log_statement["Resource"] == {"Fn::Join": ["", [logs_arn, ":*"]]}
    findings = AwsSolutionsChecks(built.app).validate_scope(built.app)
    assert [
        (v.rule_name, r.construct_path)
        for v in findings.violations
        for r in v.violating_resources
        if "Execution" in (r.construct_path or "")
    ] == []


# -- 6. a VPC with fixed zones, and no lookup --------------------------------------------------


@pytest.mark.parametrize("stack_class", [cdk.Stack, FixedZonesStack])
def test_fixed_zones_stack_builds_a_vpc_without_looking_anything_up(stack_class: type) -> None:
    app = feature_flag_app()
    zones = ["eu-west-1a", "eu-west-1b"]
    extra = {"availability_zones": zones} if stack_class is FixedZonesStack else {}
    stack = stack_class(app, "Network", env=ENV, **extra)
    ec2.Vpc(stack, "Vpc", availability_zones=zones, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
    ])  # fmt: skip
    manifest = json.loads((Path(app.synth().directory) / "manifest.json").read_text())
    lookups = [missing["key"] for missing in manifest.get("missing", [])]

    if stack_class is FixedZonesStack:
        assert lookups == []
    else:  # what FixedZonesStack is for: a plain stack asks the account for its zones
        assert lookups == [f"availability-zones:account={ACCOUNT}:region=eu-west-1"]


def test_fixed_zones_stack_refuses_a_zone_of_another_region() -> None:
    with pytest.raises(StrongboxError, match=r"availability_zones: 'us-east-1a' is not a zone of"):
        FixedZonesStack(feature_flag_app(), "Network", env=ENV, availability_zones=["us-east-1a"])


# -- 10. the smaller ones ----------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["AWSCURENT", "awscurrent", "AWSPREVIUOS", "AWS_PENDING"])
def test_a_near_miss_of_an_aws_stage_is_refused(stage: str) -> None:
    built = App()
    with pytest.raises(StrongboxError, match=rf"version_stage '{stage}' is not one of AWS's"):
        SecretConsumer(
            built.stack, "Api", secrets=[SecretUse("TOKEN", built.secret, version_stage=stage)]
        )


def test_a_custom_stage_unlike_aws_s_is_accepted() -> None:
    built = App()
    consumer = SecretConsumer(
        built.stack, "Api", secrets=[SecretUse("TOKEN", built.secret, version_stage="BLUE")]
    )
    assert consumer.secrets[0].version_stage == "BLUE"


CONSTRUCTS = [
    getattr(strongbox, name)
    for name in strongbox.__all__
    if isinstance(getattr(strongbox, name), type)
    and issubclass(getattr(strongbox, name), Construct)
]


@pytest.mark.parametrize("construct", CONSTRUCTS, ids=lambda c: c.__name__)
def test_signature_shows_the_constructor_arguments(construct: type) -> None:
    parameters = inspect.signature(construct).parameters

    assert list(parameters)[:2] == ["scope", "id_"]
    assert all(p.kind is not inspect.Parameter.VAR_POSITIONAL for p in parameters.values())
    assert vars(construct)["__init__"].__doc__ or construct.__doc__


def test_every_public_method_of_a_construct_says_what_it_does() -> None:
    undocumented = [
        f"{construct.__name__}.{name}"
        for construct in CONSTRUCTS
        for name, member in vars(construct).items()
        if callable(member) and not name.startswith("_") and not member.__doc__
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    ("modules", "message"),
    [
        (None, r"strategy 'vendor:Rotate' needs strategy_modules, the directory holding vendor"),
        ("empty", r"strategy_modules .* has no vendor\.py for strategy 'vendor:Rotate'"),
    ],
)
def test_a_custom_strategy_whose_module_would_be_missing_is_refused(
    modules: str | None, message: str, tmp_path: Path
) -> None:
    built = App()
    with pytest.raises(StrongboxError, match=message):
        RotationFunction(
            built.stack, "Rotation", vpc=imported_isolated_vpc(built.stack), vpc_subnets=ISOLATED,
            vpc_cidr="10.0.0.0/16", encryption_key=built.key, strategy="vendor:Rotate",
            strategy_modules=tmp_path if modules else None,
        )  # fmt: skip


# -- a library user's synth: one line per problem, then the proof -------------------------------


def test_synthesize_reports_a_construct_validation_in_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    built = App()
    built.app = feature_flag_app(outdir=str(tmp_path))
    built.stack = cdk.Stack(built.app, "Service", env=ENV)
    built.key = SecretsKey(
        built.stack, "Key", application="payments", environment_name="prod",
        access=KeyAccess(account=ACCOUNT, regions=("eu-west-1",)),
    )  # fmt: skip
    SecretConsumer(
        built.stack, "Api", secrets=[SecretUse("PARTNER_TOKEN", built.api_key("partner-api-key"))]
    )
    stream = io.StringIO()

    assert synthesize(built.app, stream=stream) == 1
    assert stream.getvalue().splitlines()[0] == (
        "strongbox: [Service/Api] SecretConsumer is attached to no role, so the workload could "
        "not read its values: call attach_to(role) with the role that reads them (for ECS, "
        "TaskExecutionRole does it)"
    )
    assert "Traceback" not in stream.getvalue()
    assert not (tmp_path / "manifest.json").exists()


def test_synthesize_runs_the_call_path_proof(tmp_path: Path) -> None:
    """A reading function in subnets with no Secrets Manager endpoint synthesizes, and the
    proof refuses it: its reads would have no route."""
    built = App()
    built.app = feature_flag_app(outdir=str(tmp_path))
    built.app.node.set_context(FAIL_SYNTH_ON_VALIDATION_ERRORS, False)
    built.stack = cdk.Stack(built.app, "Service", env=ENV)
    built.key = SecretsKey(
        built.stack, "Key", application="payments", environment_name="prod",
        access=KeyAccess(account=ACCOUNT, regions=("eu-west-1",), encrypts_log_groups=True),
    )  # fmt: skip
    consumer = SecretConsumer(
        built.stack, "Reads", secrets=[SecretUse("PARTNER_TOKEN", built.api_key("partner-token"))]
    )
    SecretReadingFunction(
        built.stack, "Reader", consumer=consumer, description="reads the partner token",
        vpc=ec2.Vpc.from_vpc_attributes(
            built.stack, "Vpc", vpc_id="vpc-0a1b2c3d4e5f60718", availability_zones=["eu-west-1a"],
            isolated_subnet_ids=["subnet-0a1b2c3d4e5f60718"],
            isolated_subnet_route_table_ids=["rtb-0a1b2c3d4e5f60718"],
        ),
        vpc_subnets=ISOLATED, vpc_cidr="10.0.0.0/16", encryption_key=built.key,
    )  # fmt: skip
    stream = io.StringIO()

    assert synthesize(built.app, stream=stream) == 1
    lines = stream.getvalue().splitlines()
    assert any(
        line.startswith("strongbox: call path: Service: reading function (reads the partner")
        and "secretsmanager:GetSecretValue" in line
        and "denied: the network denies (no secretsmanager endpoint in eu-west-1" in line
        for line in lines
    ), lines
    assert not (tmp_path / "manifest.json").exists()


def test_the_printed_form_of_a_finding_is_acknowledged_as_its_rule() -> None:
    app = feature_flag_app()
    stack = cdk.Stack(app, "Service", env=ENV)
    cluster = ecs.Cluster(stack, "Cluster", vpc=imported_isolated_vpc(stack))
    acknowledge(
        cluster, "AwsSolutions::AwsSolutions-ECS4", "Container Insights are on in the account."
    )
    findings = AwsSolutionsChecks(app).validate_scope(app)

    assert "AwsSolutions-ECS4" not in {violation.rule_name for violation in findings.violations}
