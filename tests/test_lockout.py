"""No lockout, over generated inputs: a secret's Deny statements never stop its administrators,
the account root or the deploy role, and the endpoint policies let the deploy role's resources
(custom resources, rotation) do their work. Key policies: tests/test_keys.py (108 combinations
keep an administrator with kms:PutKeyPolicy)."""

from __future__ import annotations

import fnmatch
import itertools
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Template
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox import PrivateEndpoints
from strongbox.naming import pascal_case
from strongbox.secrets import PROTECTED_ACTIONS, VALUE_ACTIONS, _resource_policy
from tests.conftest import as_list, feature_flag_app, stripe_secret

ACCOUNT = "333333333333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-eu-west-1"
RESOLVER = cdk.Stack()  # renders policy documents to JSON; one for all generated examples

role_names = st.from_regex(r"[A-Za-z][A-Za-z0-9+=,.@_-]{0,20}", fullmatch=True)
administrators = st.lists(
    role_names.map(lambda name: f"arn:aws:iam::{ACCOUNT}:role/{name}"), max_size=3, unique=True
)
readers = st.lists(
    st.from_regex(r"[0-9]{12}", fullmatch=True).filter(lambda a: a != ACCOUNT),
    max_size=3,
    unique=True,
)
endpoints = st.lists(st.from_regex(r"vpce-[0-9a-f]{17}", fullmatch=True), max_size=2, unique=True)


def condition_holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    """The IAM condition operators Strongbox's policies use, on a request context."""
    values = [str(v) for v in as_list(expected)]
    if operator == "BoolIfExists":
        return key not in context or context[key] in values
    actual = context.get(key)
    if operator == "ArnNotLike":
        return actual is None or not any(fnmatch.fnmatchcase(actual, v) for v in values)
    if operator == "StringNotEquals":
        return actual is None or actual not in values
    if operator == "StringEquals":
        return actual in values
    raise AssertionError(f"evaluator does not know {operator}")


def applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    principal = statement["Principal"]
    if principal != "*" and principal != {"AWS": "*"}:
        arns = as_list(principal["AWS"])
        if (
            context["aws:PrincipalArn"] not in arns
            and f"arn:aws:iam::{context['account']}:root" not in arns
        ):
            return False
    if not any(fnmatch.fnmatchcase(action, a) for a in as_list(statement["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
        return False
    return all(
        condition_holds(operator, key, expected, context)
        for operator, block in statement.get("Condition", {}).items()
        for key, expected in block.items()
    )


def denied(policy: dict[str, Any], action: str, context: dict[str, str]) -> bool:
    return any(
        applies(s, action, "*", context) for s in policy["Statement"] if s["Effect"] == "Deny"
    )


def caller(arn: str, **extra: str) -> dict[str, str]:
    return {"aws:PrincipalArn": arn, "account": arn.split(":")[4], **extra}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(admins=administrators, cross_account=readers, vpc_endpoint_ids=endpoints)
def test_deny_statements_never_stop_the_exempt(
    admins: list[str], cross_account: list[str], vpc_endpoint_ids: list[str]
) -> None:
    exempt = [ROOT, DEPLOY_ROLE, *admins]
    policy = RESOLVER.resolve(
        _resource_policy(
            exempt=exempt, cross_account_readers=cross_account, vpc_endpoint_ids=vpc_endpoint_ids
        )
    )
    # From anywhere (no endpoint), the exempt can still delete the secret and change its policy.
    for principal, action in itertools.product(exempt, (*PROTECTED_ACTIONS, *VALUE_ACTIONS)):
        assert not denied(policy, action, caller(principal)), (principal, action)
    # The test can fail: anyone else is denied the protected actions.
    intruder = caller(f"arn:aws:iam::{ACCOUNT}:role/someone-else")
    for action in PROTECTED_ACTIONS:
        assert denied(policy, action, intruder)
    if vpc_endpoint_ids:
        assert denied(policy, "secretsmanager:GetSecretValue", intruder)
        through = caller(intruder["aws:PrincipalArn"], **{"aws:SourceVpce": vpc_endpoint_ids[0]})
        assert not denied(policy, "secretsmanager:GetSecretValue", through)


@pytest.mark.parametrize("admins", [(), (f"arn:aws:iam::{ACCOUNT}:role/strongbox-key-admin",)])
def test_managed_secret_exempts_root_deploy_role_and_administrators(
    admins: tuple[str, ...],
) -> None:
    stack = cdk.Stack(
        feature_flag_app(), "Secrets", env=cdk.Environment(account=ACCOUNT, region="eu-west-1")
    )
    stripe_secret(stack, administrators=admins)
    (resource,) = (
        Template.from_stack(stack).find_resources("AWS::SecretsManager::ResourcePolicy").values()
    )
    policy = resource["Properties"]["ResourcePolicy"]
    for principal in (ROOT, DEPLOY_ROLE, *admins):
        for action in PROTECTED_ACTIONS:
            assert not denied(policy, action, caller(principal)), (principal, action)


SERVICE_SETS = [
    services
    for size in (1, 3, 6)
    for services in itertools.combinations(
        ("secretsmanager", "kms", "ssm", "ecr.api", "ecr.dkr", "logs"), size
    )
][:12]


@pytest.mark.parametrize("services", SERVICE_SETS, ids=["+".join(s) for s in SERVICE_SETS])
def test_endpoint_policies_let_the_deployed_resources_work(services: tuple[str, ...]) -> None:
    """What the deploy role's resources call through the endpoints is allowed: rotation and the
    SecureString provider (same account), and custom-resource responses to CloudFormation."""
    stack = cdk.Stack(
        feature_flag_app(), "Network", env=cdk.Environment(account=ACCOUNT, region="eu-west-1")
    )
    PrivateEndpoints(
        stack,
        "Endpoints",
        vpc=ec2.Vpc.from_vpc_attributes(
            stack,
            "Vpc",
            vpc_id="vpc-0a1b2c3d4e5f60718",
            availability_zones=["eu-west-1a"],
            isolated_subnet_ids=["subnet-0a1b2c3d4e5f60718"],
            isolated_subnet_route_table_ids=["rtb-0a1b2c3d4e5f60718"],
        ),
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        vpc_cidr="10.0.0.0/16",
        account=ACCOUNT,
        secret_name_prefix="prod/payments/",  # noqa: S106 - a name prefix
        parameter_path="/payments/prod/",
        services=services,
    )
    resources = Template.from_stack(stack).to_json()["Resources"].items()
    policies = {
        logical_id: resource["Properties"]["PolicyDocument"]
        for logical_id, resource in resources
        if resource["Type"] == "AWS::EC2::VPCEndpoint"
    }
    function = caller(f"arn:aws:iam::{ACCOUNT}:role/rotation", **{"aws:PrincipalAccount": ACCOUNT})
    stranger = caller(
        "arn:aws:iam::444444444444:role/x", **{"aws:PrincipalAccount": "444444444444"}
    )
    secret = (
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/payments/stripe-api-key-AbCdEf"
    )
    parameter = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/payments/prod/session/cookie-salt"
    key = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/mrk-0123456789abcdef0123456789abcdef"
    needed = {
        "secretsmanager": [("secretsmanager:PutSecretValue", secret)],
        "ssm": [("ssm:PutParameter", parameter), ("ssm:DeleteParameter", parameter)],
        "kms": [("kms:Decrypt", key), ("kms:GenerateDataKey", key)],
    }

    def allowed(policy: dict[str, Any], action: str, resource: str, who: dict[str, str]) -> bool:
        statements = policy["Statement"]
        assert all(s["Effect"] == "Allow" for s in statements), "no Deny in endpoint policies"
        return any(applies(s, action, resource, who) for s in statements)

    assert len(policies) == len(services) + 1  # and the S3 gateway
    for service in services:
        (name,) = [n for n in policies if n.startswith(f"Vpc{pascal_case(service)}Endpoint")]
        for action, resource in needed.get(service, []):
            assert allowed(policies[name], action, resource, function), (service, action)
            assert not allowed(policies[name], action, resource, stranger), (service, action)
    (gateway,) = [p for n, p in policies.items() if n.startswith("VpcS3Gateway")]
    response = "arn:aws:s3:::cloudformation-custom-resource-response-euwest1/stack/id"
    assert allowed(gateway, "s3:PutObject", response, caller(DEPLOY_ROLE))
