"""SecretConsumer: exactly the secrets and parameters a workload uses, consolidated, in budget."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from benchmarks.limits import Renderer
from constructs import Construct
from strongbox import (
    DatabaseFields,
    Generation,
    KeyAccess,
    ManagedSecret,
    ParameterTree,
    SecretsKey,
)
from strongbox.consumer import (
    MANAGED_POLICY_LIMIT,
    ROLE_MANAGED_POLICY_QUOTA,
    ParameterUse,
    SecretConsumer,
    SecretUse,
)
from strongbox.reading_function import SecretReadingFunction
from tests.conftest import as_list, feature_flag_app, imported_isolated_vpc

ACCOUNT = "333333333333"
REASON = "Rotated by the provider's dashboard; tracked by the owning team."


class Fixture:
    def __init__(self) -> None:
        self.stack = cdk.Stack(
            feature_flag_app(), "Workload", env=cdk.Environment(account=ACCOUNT, region="eu-west-1")
        )
        self.key = SecretsKey(
            self.stack,
            "Key",
            application="payments",
            environment_name="prod",
            access=KeyAccess(account=ACCOUNT, regions=("eu-west-1",), encrypts_log_groups=True),
        ).key
        vpc = imported_isolated_vpc(self.stack)
        self.tree = ParameterTree(
            self.stack,
            "Tree",
            application="payments",
            environment_name="prod",
            encryption_key=self.key,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            vpc_cidr="10.0.0.0/16",
        )

    def secret(self, purpose: str, kind: str = "api-key", **kwargs: Any) -> ManagedSecret:
        return ManagedSecret(
            self.stack,
            "".join(part.capitalize() for part in purpose.split("-")),
            application="payments",
            environment_name="prod",
            purpose=purpose,
            kind=kind,  # type: ignore[arg-type]
            description=f"{purpose} for the payments API",
            owner="team-payments",
            encryption_key=self.key,
            rotation_disabled_reason=REASON,
            **kwargs,
        )

    def attach(self, consumer: SecretConsumer) -> iam.Role:
        """A role for `consumer` (synth refuses a consumer attached to none)."""
        role = iam.Role(
            self.stack, f"{consumer.node.id}Role", assumed_by=iam.AccountRootPrincipal()
        )
        consumer.attach_to(role)
        return role

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)


def policies_of(template: Template) -> dict[str, Any]:
    return dict(template.find_resources("AWS::IAM::ManagedPolicy"))


def test_statements_are_consolidated_and_exact() -> None:
    fixture = Fixture()
    database = fixture.secret(
        "db-credentials", "database", database=DatabaseFields(dbname="payments")
    )
    stripe = fixture.secret("stripe-api-key")
    fixture.tree.add_string("log-level", "INFO")
    fixture.tree.add_secure_string("session/cookie-salt", generation=Generation(length=32))
    consumer = SecretConsumer(
        fixture.stack,
        "Api",
        secrets=[
            SecretUse("DB_PASSWORD", database, field="password"),
            SecretUse("DB_USER", database, field="username"),
            SecretUse("STRIPE_KEY", stripe, version_stage="AWSCURRENT"),
        ],
        parameters=[
            ParameterUse("LOG_LEVEL", fixture.tree, "log-level"),
            ParameterUse("COOKIE_SALT", fixture.tree, "session/cookie-salt"),
        ],
    )
    fixture.attach(consumer)
    policy_id = fixture.stack.get_logical_id(consumer.policies[0].node.default_child)  # type: ignore[arg-type]
    statements = policies_of(Template.from_stack(fixture.stack))[policy_id]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    key_arn = {"Fn::GetAtt": [fixture.logical_id(fixture.key), "Arn"]}

    assert len(consumer.policies) == 1
    assert statements == [
        {
            "Action": "secretsmanager:GetSecretValue",
            "Effect": "Allow",
            "Resource": {"Ref": fixture.logical_id(database.secret)},
        },
        {
            "Action": "secretsmanager:GetSecretValue",
            "Condition": {"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}},
            "Effect": "Allow",
            "Resource": {"Ref": fixture.logical_id(stripe.secret)},
        },
        {
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Effect": "Allow",
            "Resource": [
                "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/log-level",
                "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/session/cookie-salt",
            ],
        },
        {
            "Action": "kms:Decrypt",
            "Condition": {
                "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
            },
            "Effect": "Allow",
            "Resource": key_arn,
        },
        {
            "Action": "kms:Decrypt",
            "Condition": {"StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": key_arn,
        },
    ]


def rendered_sizes(fixture: Fixture, consumer: SecretConsumer) -> list[int]:
    """Each policy's size as IAM counts it, with secret ARNs as they will be at deploy time."""
    template = Template.from_stack(fixture.stack).to_json()
    names = {
        logical_id: resource["Properties"]["Name"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::Secret"
    }
    sizes = []
    for policy in consumer.policies:
        document = template["Resources"][fixture.stack.get_logical_id(policy.node.default_child)]  # type: ignore[arg-type]
        text = json.dumps(document["Properties"]["PolicyDocument"], separators=(",", ":"))
        text = re.sub(
            r'\{"Ref":"(\w+)"\}',
            lambda m: (
                f'"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{names[m.group(1)]}-AbCdEf"'
            ),
            text,
        )
        text = re.sub(
            r'\{"Fn::GetAtt":\["\w+","Arn"\]\}',
            f'"arn:aws:kms:eu-west-1:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"',
            text,
        )
        sizes.append(len(text))
    return sizes


@pytest.mark.parametrize(("count", "policies"), [(50, 1), (200, 4)])
def test_policy_size_for_many_secrets(count: int, policies: int) -> None:
    fixture = Fixture()
    secrets = [fixture.secret(f"partner-{index:03d}-api-key") for index in range(count)]
    consumer = SecretConsumer(
        fixture.stack,
        "Api",
        secrets=[SecretUse(f"PARTNER_{index:03d}", s) for index, s in enumerate(secrets)],
    )
    fixture.attach(consumer)
    sizes = rendered_sizes(fixture, consumer)
    print(f"{count} secrets: {len(sizes)} managed policies of {sizes} characters")
    assert len(consumer.policies) == policies
    assert all(size < MANAGED_POLICY_LIMIT for size in sizes), sizes
    statements = [
        s
        for p in consumer.policies
        for s in fixture.stack.resolve(p.document.to_json())["Statement"]
    ]
    secret_statements = [s for s in statements if s["Action"] == "secretsmanager:GetSecretValue"]
    granted = [r["Ref"] for s in secret_statements for r in as_list(s["Resource"])]
    assert sorted(granted) == sorted(fixture.logical_id(s.secret) for s in secrets)


def test_ecs_secrets_mapping_on_an_immutable_execution_role() -> None:
    fixture = Fixture()
    database = fixture.secret("db-credentials", "database")
    fixture.tree.add_secure_string("session/cookie-salt", generation=Generation(length=32))
    consumer = SecretConsumer(
        fixture.stack,
        "Api",
        secrets=[
            SecretUse("DB_PASSWORD", database, field="password", version_stage="AWSCURRENT"),
            SecretUse("DB_HOST", database, field="host"),
        ],
        parameters=[ParameterUse("COOKIE_SALT", fixture.tree, "session/cookie-salt")],
    )
    role = iam.Role(
        fixture.stack, "Execution", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
    )
    consumer.attach_to(role)
    task = ecs.FargateTaskDefinition(
        fixture.stack, "Task", execution_role=role.without_policy_updates()
    )
    task.add_container(
        "Api",
        image=ecs.ContainerImage.from_registry("example.invalid/api:1"),
        secrets=consumer.ecs_secrets(),
    )
    template = Template.from_stack(fixture.stack)
    (task_resource,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    (container,) = task_resource["Properties"]["ContainerDefinitions"]
    database_id = fixture.logical_id(database.secret)

    assert "Environment" not in container
    assert {s["Name"]: s["ValueFrom"] for s in container["Secrets"]} == {
        "DB_PASSWORD": {"Fn::Join": ["", [{"Ref": database_id}, ":password:AWSCURRENT:"]]},
        "DB_HOST": {"Fn::Join": ["", [{"Ref": database_id}, ":host::"]]},
        "COOKIE_SALT": "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/session/"
        "cookie-salt",
    }
    role_id = fixture.stack.get_logical_id(role.node.default_child)  # type: ignore[arg-type]
    assert not template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}}
    )
    assert template.to_json()["Resources"][role_id]["Properties"]["ManagedPolicyArns"] == [
        {"Ref": fixture.stack.get_logical_id(consumer.policies[0].node.default_child)}  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize(
    ("uses", "message"),
    [
        (lambda f, s: [SecretUse("db-password", s)], "env_var 'db-password' must be upper-case"),
        (lambda f, s: [SecretUse("DB\n", s)], r"env_var 'DB\\n' must be upper-case"),
        (
            lambda f, s: [SecretUse("DB", s, field="password"), SecretUse("DB", s, field="host")],
            "env_var used twice: DB",
        ),
        (
            lambda f, s: [SecretUse("DB", s, field="pasword")],
            "field 'pasword' is not in prod/payments/db-credentials",
        ),
    ],
)
def test_refusals(uses: Any, message: str) -> None:
    fixture = Fixture()
    database = fixture.secret("db-credentials", "database")
    with pytest.raises(ValueError, match=message):
        SecretConsumer(fixture.stack, "Api", secrets=uses(fixture, database))


def test_lambda_environment_names_where_values_live() -> None:
    fixture = Fixture()
    database = fixture.secret("db-credentials", "database")
    token = fixture.secret("stripe-api-key")
    fixture.tree.add_string("log-level", "INFO", description="Log level")
    consumer = SecretConsumer(
        fixture.stack,
        "Reconciler",
        secrets=[
            SecretUse("DB_PASSWORD", database, field="password", version_stage="AWSPREVIOUS"),
            SecretUse("STRIPE_API_KEY", token),
        ],
        parameters=[ParameterUse("LOG_LEVEL", fixture.tree, "log-level")],
    )
    variables = fixture.stack.resolve(consumer.lambda_environment())

    assert variables == {
        "DB_PASSWORD_SECRET_ARN": {"Ref": fixture.logical_id(database.secret)},
        "DB_PASSWORD_SECRET_FIELD": "password",
        "DB_PASSWORD_SECRET_STAGE": "AWSPREVIOUS",
        "STRIPE_API_KEY_SECRET_ARN": {"Ref": fixture.logical_id(token.secret)},
        "LOG_LEVEL_PARAMETER_NAME": "/payments/prod/log-level",
    }


def test_a_consumer_deploys_after_the_stack_of_the_parameters_it_names() -> None:
    """Parameters are named by literal ARN and name, which CloudFormation does not see as a
    reference: the consumer's stack must depend on the tree's explicitly."""
    fixture = Fixture()
    fixture.tree.add_string("log-level", "INFO", description="Log level")
    app = fixture.stack.node.root
    assert isinstance(app, cdk.App)
    service = cdk.Stack(app, "Service", env=cdk.Environment(account=ACCOUNT, region="eu-west-1"))
    SecretConsumer(
        service, "Api", parameters=[ParameterUse("LOG_LEVEL", fixture.tree, "log-level")]
    )
    SecretConsumer(
        fixture.stack, "Local", parameters=[ParameterUse("LOG_LEVEL", fixture.tree, "log-level")]
    )

    assert [stack.node.path for stack in service.dependencies] == [fixture.stack.node.path]
    assert fixture.stack.dependencies == []


def test_lambda_environment_refuses_what_lambda_cannot_hold() -> None:
    fixture = Fixture()
    secrets = [fixture.secret(f"partner-{index:02d}-api-key") for index in range(40)]
    consumer = SecretConsumer(
        fixture.stack,
        "Reconciler",
        secrets=[SecretUse(f"PARTNER_{index:02d}_API_KEY", s) for index, s in enumerate(secrets)],
    )
    with pytest.raises(ValueError, match=r"^40 secrets and 0 parameters need about \d+ bytes"):
        consumer.lambda_environment()
    # Half as many fit.
    smaller = SecretConsumer(
        fixture.stack,
        "Smaller",
        secrets=[SecretUse(f"PARTNER_{i:02d}_API_KEY", s) for i, s in enumerate(secrets[:20])],
    )
    assert len(smaller.lambda_environment()) == 20


def test_reading_function_refuses_a_cache_the_extension_cannot_keep() -> None:
    fixture = Fixture()
    consumer = SecretConsumer(fixture.stack, "Reconciler", secrets=[])
    with pytest.raises(ValueError, match="cache_ttl is at most 300 seconds, got 600"):
        SecretReadingFunction(
            fixture.stack,
            "Reconciler",
            consumer=consumer,
            description="reconciler",
            vpc=imported_isolated_vpc(Construct(fixture.stack, "Elsewhere")),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            vpc_cidr="10.0.0.0/16",
            encryption_key=fixture.key,
            cache_ttl=cdk.Duration.minutes(10),
        )


def test_a_consumer_needing_more_policies_than_a_role_takes_is_refused() -> None:
    """IAM attaches at most 10 managed policies to a role by default: a consumer that needs more
    would synthesize and fail at deploy."""
    fixture = Fixture()
    long_names = [fixture.secret(f"partner-{index:03d}-{'x' * 40}") for index in range(600)]
    consumer = SecretConsumer(
        fixture.stack,
        "Api",
        secrets=[SecretUse(f"PARTNER_{index:03d}", s) for index, s in enumerate(long_names)],
    )
    assert len(consumer.policies) > 10
    with pytest.raises(ValueError, match=r"^Workload/Api: attach_to: 600 secrets and 0 parameters"):
        fixture.attach(consumer)


def test_parameters_past_one_policy_are_split_across_policies() -> None:
    """120 parameters a workload reads: their ARNs (about 9,400 characters) are split into
    statements that each fit a managed policy, every ARN in exactly one, beside the secret
    and key statements."""
    fixture = Fixture()
    stripe = fixture.secret("stripe-api-key")
    names = [f"app/setting-{index:03d}" for index in range(120)]
    for name in names:
        fixture.tree.add_string(name, "on")
    consumer = SecretConsumer(
        fixture.stack,
        "Api",
        secrets=[SecretUse("STRIPE_KEY", stripe)],
        parameters=[
            ParameterUse(f"SETTING_{index:03d}", fixture.tree, name)
            for index, name in enumerate(names)
        ],
    )
    fixture.attach(consumer)
    template = Template.from_stack(fixture.stack).to_json()
    renderer = Renderer({fixture.stack.stack_name: dict(template)})
    documents = [
        template["Resources"][fixture.stack.get_logical_id(p.node.default_child)][  # type: ignore[arg-type]
            "Properties"
        ]["PolicyDocument"]
        for p in consumer.policies
    ]
    statements = [s for document in documents for s in as_list(document["Statement"])]
    parameter_statements = [
        s for s in statements if s["Action"] == ["ssm:GetParameter", "ssm:GetParameters"]
    ]

    assert len(consumer.policies) > 1
    sizes = [renderer.size(document, fixture.stack.stack_name) for document in documents]
    assert all(size < MANAGED_POLICY_LIMIT for size in sizes), sizes
    assert len(parameter_statements) == 2
    granted = [r for s in parameter_statements for r in as_list(s["Resource"])]
    assert sorted(granted) == sorted(fixture.tree.parameter_arn(name) for name in names)
    assert [
        s["Resource"] for s in statements if s["Action"] == "secretsmanager:GetSecretValue"
    ] == [{"Ref": fixture.logical_id(stripe.secret)}]
    assert [s["Action"] for s in statements].count("kms:Decrypt") == 1


def test_a_consumer_of_parameters_needing_more_policies_than_a_role_takes_is_refused() -> None:
    """Parameter ARNs count toward the 10 managed policies a role takes like secrets do."""
    fixture = Fixture()
    names = [f"app/{index:03d}-{'n' * 800}" for index in range(80)]
    for name in names:
        fixture.tree.add_string(name, "on")
    consumer = SecretConsumer(
        fixture.stack,
        "Api",
        parameters=[
            ParameterUse(f"SETTING_{index:03d}", fixture.tree, name)
            for index, name in enumerate(names)
        ],
    )

    assert len(consumer.policies) > ROLE_MANAGED_POLICY_QUOTA
    with pytest.raises(
        ValueError,
        match=rf"^Workload/Api: attach_to: 0 secrets and 80 parameters need "
        rf"{len(consumer.policies)} managed policies, over the 10 ",
    ):
        fixture.attach(consumer)
