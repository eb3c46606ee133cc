"""Private network path and Parameter Store: endpoints and their policies, the VPC, flow logs,
parameter types and tiers, SecureStrings that never reach a template."""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from stacks.config import ENDPOINT_SERVICES, ConfigError, parse_config
from strongbox import Generation, KeyAccess, ManagedSecret, ParameterTree, SecretsKey
from strongbox.access.policy import Request, evaluate
from tests.conftest import (
    Synthesized,
    SynthesizedStack,
    as_list,
    cdk_json_context,
    default_strongbox_config,
    feature_flag_app,
    imported_isolated_vpc,
    synthesize,
)

CONFIG = parse_config(default_strongbox_config())
ENVIRONMENTS = [e.name for e in CONFIG.environments]
ACCOUNT_CONDITION = {"StringEquals": {"aws:PrincipalAccount": "333333333333"}}

# What the ssm endpoint lets callers do on the environment's parameter path: the SecureString
# provider's calls (tagging and its ownership check included) and the readers'.
SSM_PARAMETER_ACTIONS = [
    "ssm:AddTagsToResource",
    "ssm:DeleteParameter",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ssm:ListTagsForResource",
    "ssm:PutParameter",
]


def network(synthesized: Synthesized, name: str) -> SynthesizedStack:
    return synthesized.stack(f"{CONFIG.environment(name).stage_name}/Network")


def test_prod_endpoints_and_their_policies(synthesized: Synthesized) -> None:
    stack = network(synthesized, "prod")
    endpoints = {
        endpoint["Properties"]["ServiceName"]: endpoint["Properties"]
        for endpoint in stack.resources("AWS::EC2::VPCEndpoint").values()
        if endpoint["Properties"]["VpcEndpointType"] == "Interface"
    }
    assert sorted(endpoints) == [
        f"com.amazonaws.eu-west-1.{service}"
        for service in ("ecr.api", "ecr.dkr", "kms", "logs", "secretsmanager", "ssm")
    ]

    def statements(service: str) -> list[dict[str, Any]]:
        document: dict[str, Any] = endpoints[f"com.amazonaws.eu-west-1.{service}"]["PolicyDocument"]
        return list(document["Statement"])

    assert statements("secretsmanager") == [
        {
            "Action": "secretsmanager:*",
            "Condition": ACCOUNT_CONDITION,
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Resource": "arn:aws:secretsmanager:eu-west-1:333333333333:secret:prod/payments/*",
        },
        {
            "Action": "secretsmanager:GetRandomPassword",
            "Condition": ACCOUNT_CONDITION,
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Resource": "*",
        },
    ]
    assert statements("ssm") == [
        {
            "Action": SSM_PARAMETER_ACTIONS,
            "Condition": ACCOUNT_CONDITION,
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Resource": "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/*",
        },
        {
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Condition": ACCOUNT_CONDITION,
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Resource": "arn:aws:ssm:eu-west-1:333333333333:parameter/aws/reference/"
            "secretsmanager/prod/payments/*",
        },
    ]
    assert statements("kms") == [
        {
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*"],
            "Condition": ACCOUNT_CONDITION,
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Resource": "arn:aws:kms:eu-west-1:333333333333:key/*",
        }
    ]
    for service, prefix in (("ecr.api", "ecr"), ("ecr.dkr", "ecr"), ("logs", "logs")):
        assert statements(service) == [
            {
                "Action": f"{prefix}:*",
                "Condition": ACCOUNT_CONDITION,
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Resource": "*",
            }
        ]
    for service in ("secretsmanager", "kms", "ssm", "ecr.api", "ecr.dkr", "logs"):
        properties = endpoints[f"com.amazonaws.eu-west-1.{service}"]
        assert properties["PrivateDnsEnabled"] is True
        assert properties["VpcEndpointType"] == "Interface"
        assert len(properties["SubnetIds"]) == 3


def test_ssm_endpoint_allows_every_call_of_the_secure_string_provider(
    synthesized: Synthesized,
) -> None:
    """The provider runs in the isolated subnets, so with private DNS on each of its SSM calls
    goes through the ssm endpoint, whose policy denies what it does not allow whatever IAM says.
    It calls PutParameter with Tags on create (authorized as ssm:AddTagsToResource as well),
    ListTagsForResource (is an existing parameter its own?), GetParameter (the value kept on a
    rewrite) and DeleteParameter, each on a parameter ARN; both tagging actions authorize against
    the parameter resource type. Readers add GetParameters and GetParametersByPath."""
    stack = network(synthesized, "prod")
    (ssm_endpoint,) = [
        e["Properties"]
        for e in stack.resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["ServiceName"] == "com.amazonaws.eu-west-1.ssm"
    ]
    parameter_path = "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/*"
    (statement,) = [
        s for s in ssm_endpoint["PolicyDocument"]["Statement"] if s["Resource"] == parameter_path
    ]
    assert statement == {
        "Action": SSM_PARAMETER_ACTIONS,
        "Condition": ACCOUNT_CONDITION,
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Resource": parameter_path,
    }
    # Whatever the provider's role may do on its parameters, the endpoint lets through.
    (provider_policy,) = (
        synthesized.stack("Strongbox-Prod/Parameters").resources("AWS::IAM::ManagedPolicy").values()
    )
    (provider_ssm,) = [
        s
        for s in provider_policy["Properties"]["PolicyDocument"]["Statement"]
        if "ssm:PutParameter" in as_list(s["Action"])
    ]
    assert set(as_list(provider_ssm["Action"])) <= set(statement["Action"])
    assert all(
        fnmatch.fnmatchcase(arn, parameter_path) for arn in as_list(provider_ssm["Resource"])
    )


def test_s3_gateway_policy(synthesized: Synthesized) -> None:
    stack = network(synthesized, "prod")
    (gateway,) = [
        e["Properties"]
        for e in stack.resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("VpcEndpointType") == "Gateway"
    ]
    assert gateway["PolicyDocument"]["Statement"] == [
        # No account condition: ECR pre-signs the layer URLs with its own credentials.
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Resource": "arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*",
            "Sid": "EcrImageLayers",
        },
        {
            "Action": "s3:PutObject",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Resource": "arn:aws:s3:::cloudformation-custom-resource-response-*/*",
            "Sid": "CustomResourceResponses",
        },
    ]
    assert len(gateway["RouteTableIds"]) == 3


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_vpc_is_isolated_with_flow_logs_and_a_closed_default_group(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    stack = network(synthesized, name)
    _, vpc = next(iter(stack.resources("AWS::EC2::VPC").items()))
    subnets = stack.resources("AWS::EC2::Subnet").values()
    (flow_log,) = stack.resources("AWS::EC2::FlowLog").values()
    (log_group,) = stack.resources("AWS::Logs::LogGroup").values()

    assert vpc["Properties"]["CidrBlock"] == "10.0.0.0/16"
    assert sorted(s["Properties"]["AvailabilityZone"] for s in subnets) == list(
        environment.availability_zones
    )
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)
    for forbidden in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        assert not stack.resources(forbidden), forbidden
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    assert flow_log["Properties"]["LogDestinationType"] == "cloud-watch-logs"
    assert log_group["Properties"]["RetentionInDays"] == 365
    assert "KmsKeyId" in log_group["Properties"]
    assert stack.resources("Custom::VpcRestrictDefaultSG")
    (group,) = [
        g["Properties"]
        for g in stack.resources("AWS::EC2::SecurityGroup").values()
        if g["Properties"]["GroupDescription"].startswith("HTTPS from inside the VPC")
    ]
    assert group["SecurityGroupIngress"] == [
        {
            "CidrIp": "10.0.0.0/16",
            "Description": "HTTPS from the VPC",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    assert group["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"  # no egress


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_flow_log_role_trusts_only_this_accounts_flow_logs(
    synthesized: Synthesized, name: str
) -> None:
    """Confused deputy: VPC Flow Logs may assume the role only for this account's flow logs in
    this region. The flow log's id is generated and the flow log names the role, so the ARN
    ends in a wildcard, as the VPC user guide allows."""
    stack = network(synthesized, name)
    (flow_log,) = stack.resources("AWS::EC2::FlowLog").values()
    role_id = flow_log["Properties"]["DeliverLogsPermissionArn"]["Fn::GetAtt"][0]
    trust = stack.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]

    assert trust["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": f"arn:aws:ec2:{stack.region}:{stack.account}:vpc-flow-log/*"
                },
            },
        }
    ]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_parameters_types_and_tiers(synthesized: Synthesized, name: str) -> None:
    stack = synthesized.stack(f"{CONFIG.environment(name).stage_name}/Parameters")
    plain = {
        p["Properties"]["Name"]: p["Properties"]
        for p in stack.resources("AWS::SSM::Parameter").values()
    }
    assert plain == {
        f"/payments/{name}/feature-flags": {
            "Name": f"/payments/{name}/feature-flags",
            "Type": "StringList",
            "Value": "dark-mode,new-checkout",
            "Tier": "Standard",
            "Description": "Features switched on for the payments API",
            "Tags": {"Application": "payments", "Environment": name},
        },
        f"/payments/{name}/log-level": {
            "Name": f"/payments/{name}/log-level",
            "Type": "String",
            "Value": "DEBUG" if name == "dev" else "INFO",
            "Tier": "Standard",
            "Description": "Log level of the payments API",
            "Tags": {"Application": "payments", "Environment": name},
        },
    }
    (secure,) = stack.resources("Custom::SecureStringParameter").values()
    properties = secure["Properties"]
    assert properties["ParameterName"] == f"/payments/{name}/session/cookie-salt"
    assert properties["Tier"] == "Standard"
    assert properties["Generate"] == {
        "Length": "32",
        "ExcludeCharacters": "",
        "ExcludePunctuation": "true",
    }
    assert "Value" not in properties
    assert properties["ServiceTimeout"] == "1200"  # CloudFormation's default is an hour
    assert secure["DeletionPolicy"] == ("Delete" if name == "dev" else "Retain")


def test_no_secure_string_value_anywhere_in_cdk_out(synthesized: Synthesized) -> None:
    for template in synthesized.outdir.rglob("*.template.json"):
        resources = json.loads(template.read_text())["Resources"]
        for logical_id, resource in resources.items():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::SSM::Parameter":
                assert properties["Type"] != "SecureString", logical_id
            if resource["Type"] == "Custom::SecureStringParameter":
                assert set(properties) <= {
                    "ServiceToken",
                    "ServiceTimeout",
                    "ParameterName",
                    "KeyId",
                    "Tier",
                    "Description",
                    "Generate",
                    "CopyFrom",
                }, logical_id


def test_secure_string_provider_is_scoped_to_its_parameters(synthesized: Synthesized) -> None:
    stack = synthesized.stack("Strongbox-Prod/Parameters")
    (provider_policy,) = stack.resources("AWS::IAM::ManagedPolicy").values()
    statements = provider_policy["Properties"]["PolicyDocument"]["Statement"]
    (ssm_statement,) = [s for s in statements if "ssm:PutParameter" in s["Action"]]
    assert ssm_statement["Action"] == [
        "ssm:AddTagsToResource",
        "ssm:DeleteParameter",
        "ssm:GetParameter",
        "ssm:ListTagsForResource",
        "ssm:PutParameter",
    ]
    assert ssm_statement["Resource"] == (
        "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/session/cookie-salt"
    )
    (kms_statement,) = [s for s in statements if "kms:Encrypt" in s["Action"]]
    assert kms_statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"}
    }


def test_secure_string_provider_can_answer_cloudformation_through_the_s3_gateway(
    synthesized: Synthesized,
) -> None:
    """The provider's answer goes to a pre-signed S3 URL, which resolves to S3's public addresses
    and leaves the isolated subnets through the S3 gateway route: HTTPS to the VPC CIDR alone
    would never reach it, and CloudFormation would wait for an answer that cannot arrive."""
    stack = synthesized.stack("Strongbox-Prod/Parameters")
    (group,) = [
        g["Properties"]
        for g in stack.resources("AWS::EC2::SecurityGroup").values()
        if g["Properties"]["GroupDescription"].startswith("Strongbox SecureString parameters")
    ]
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": "10.0.0.0/16",
            "Description": "HTTPS to the VPC's AWS endpoints",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        },
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS: CloudFormation's response URL on S3",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        },
    ]
    assert "SecurityGroupIngress" not in group
    # The only way out of the isolated subnets on 443 is the VPC's endpoints and that gateway.
    net = network(synthesized, "prod")
    (gateway,) = [
        e["Properties"]
        for e in net.resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("VpcEndpointType") == "Gateway"
    ]
    assert gateway["ServiceName"] == {
        "Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]
    }
    assert len(gateway["RouteTableIds"]) == len(net.resources("AWS::EC2::RouteTable"))
    for forbidden in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway"):
        assert not net.resources(forbidden), forbidden


def test_existing_vpc_by_ids_gets_endpoints_and_flow_logs(tmp_path: Path) -> None:
    context = cdk_json_context()
    staging = context["strongbox"]["environments"]["staging"]
    staging["network"] = {
        "create_vpc": False,
        "cidr": "10.20.0.0/16",
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "subnet_ids": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
        "route_table_ids": ["rtb-0a1b2c3d4e5f60718", "rtb-0a1b2c3d4e5f60719"],
        "endpoints": ["secretsmanager", "ssm"],
    }
    context["env"] = "staging"

    synthesized = synthesize(context, tmp_path)

    assert synthesized.findings() == []
    stack = synthesized.stack("Strongbox-Staging/Network")
    assert not stack.resources("AWS::EC2::VPC")
    (flow_log,) = stack.resources("AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["ResourceId"] == "vpc-0a1b2c3d4e5f60718"
    endpoints = stack.resources("AWS::EC2::VPCEndpoint").values()
    interface = [
        e["Properties"] for e in endpoints if e["Properties"]["VpcEndpointType"] == "Interface"
    ]
    assert sorted(e["ServiceName"] for e in interface) == [
        "com.amazonaws.eu-west-1.secretsmanager",
        "com.amazonaws.eu-west-1.ssm",
    ]
    assert all(
        e["SubnetIds"] == ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]
        for e in interface
    )
    assert all(e["VpcId"] == "vpc-0a1b2c3d4e5f60718" for e in interface)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda n: n.update(create_vpc=False),
            "environments.staging.network.vpc_id: is required with create_vpc false (no lookups)",
        ),
        (
            lambda n: n.update(vpc_id="vpc-0a1b2c3d4e5f60718"),
            "environments.staging.network.vpc_id: applies only with create_vpc false",
        ),
        (
            lambda n: n.update(
                create_vpc=False,
                vpc_id="vpc-0a1b2c3d4e5f60718",
                subnet_ids=["subnet-0a1b2c3d4e5f60718"],
                route_table_ids=["rtb-0a1b2c3d4e5f60718"],
            ),
            "environments.staging.network.subnet_ids: list one per availability zone, in the same "
            "order",
        ),
        (
            lambda n: n.update(
                create_vpc=False,
                vpc_id="vpc-0a1b2c3d4e5f60718",
                subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
                route_table_ids=["rtb-0a1b2c3d4e5f60718"],
            ),
            "environments.staging.network.route_table_ids: list one per availability zone, in the "
            "same order",
        ),
        (
            lambda n: n.update(cidr="8.8.0.0/16"),
            "environments.staging.network.cidr: '8.8.0.0/16' must be a private block from /16 "
            "to /22",
        ),
        (
            lambda n: n.update(
                create_vpc=False,
                vpc_id="vpc-0a1b2c3d4e5f60718",
                subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
                route_table_ids=["rtb-0a1b2c3d4e5f60718", "rtb-0a1b2c3d4e5f60719"],
                vpc_endpoint_ids=["vpce-0a1b2c3d4e5f60718"],
            ),
            "environments.staging.network.endpoints[0]: 'secretsmanager' would be a second "
            "Secrets Manager endpoint with private DNS in the existing VPC, whose endpoints are in "
            "network.vpc_endpoint_ids; that fails to deploy (the private DNS name is taken), so "
            "list endpoints without 'secretsmanager'",
        ),
        (
            lambda n: (
                n.pop("endpoints"),
                n.update(
                    create_vpc=False,
                    vpc_id="vpc-0a1b2c3d4e5f60718",
                    subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
                    route_table_ids=["rtb-0a1b2c3d4e5f60718", "rtb-0a1b2c3d4e5f60719"],
                    vpc_endpoint_ids=["vpce-0a1b2c3d4e5f60718"],
                ),
            ),
            "environments.staging.network.endpoints: 'secretsmanager' would be a second "
            "Secrets Manager endpoint with private DNS in the existing VPC, whose endpoints are in "
            "network.vpc_endpoint_ids; that fails to deploy (the private DNS name is taken), so "
            "list endpoints without 'secretsmanager'",
        ),
    ],
    ids=[
        "create-vpc-false-without-vpc-id",
        "vpc-id-with-create-vpc",
        "subnet-ids-per-zone",
        "route-table-ids-per-zone",
        "public-cidr",
        "second-secretsmanager-endpoint",
        "second-secretsmanager-endpoint-by-default",
    ],
)
def test_network_config_errors(mutate: Any, message: str) -> None:
    raw = copy.deepcopy(default_strongbox_config())
    mutate(raw["environments"]["staging"]["network"])
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "network",
    [
        {"endpoints": list(ENDPOINT_SERVICES)},
        {"endpoints": list(ENDPOINT_SERVICES), "vpc_endpoint_ids": ["vpce-0a1b2c3d4e5f60718"]},
        {
            "create_vpc": False,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "subnet_ids": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
            "route_table_ids": ["rtb-0a1b2c3d4e5f60718", "rtb-0a1b2c3d4e5f60719"],
            "endpoints": ["kms", "ssm"],
            "vpc_endpoint_ids": ["vpce-0a1b2c3d4e5f60718"],
        },
    ],
    ids=["created-endpoint", "existing-endpoints", "imported-vpc-with-its-endpoints"],
)
def test_vpc_endpoint_only_needs_the_created_endpoint_or_existing_ones(
    network: dict[str, Any],
) -> None:
    raw = copy.deepcopy(default_strongbox_config())
    staging = raw["environments"]["staging"]
    staging["network"] = network
    staging["secrets"][1]["vpc_endpoint_only"] = True
    assert parse_config(raw).environment("staging").secrets[1].vpc_endpoint_only


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        (
            {"name": "db-password", "type": "String", "value": "x"},
            "environments.prod.parameters[3]: the name 'db-password' says it holds a credential; "
            "keep credentials in a SecureString or a secret, not a String",
        ),
        (
            {"name": "aws", "type": "String", "value": "AKIAABCDEFGHIJKLMNOP"},
            "environments.prod.parameters[3]: the value looks like an AWS access key id; keep "
            "credentials in a SecureString or a secret, not a String",
        ),
        (
            {"name": "upstream", "type": "String", "value": "https://app:hunter2@db.internal/x"},
            "environments.prod.parameters[3]: the value looks like a URL with a password; keep "
            "credentials in a SecureString or a secret, not a String",
        ),
        (
            {"name": "blob", "type": "String", "value": "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"},
            "environments.prod.parameters[3]: the value contains a long random-looking string (a "
            "generated secret?); keep credentials in a SecureString or a secret, not a String",
        ),
        (
            {"name": "salt", "type": "SecureString", "value": "abc"},
            "environments.prod.parameters[3].value: a SecureString never takes a literal value: "
            "it would be stored in plaintext in cdk.json; set 'source' (generate, or copy from a "
            "secret)",
        ),
        (
            {"name": "salt", "type": "SecureString", "source": {"secret": "nope", "field": "x"}},
            "environments.prod.parameters[3].source.secret: 'nope' is not a secret of this "
            "environment",
        ),
        (
            {
                "name": "salt",
                "type": "SecureString",
                "source": {"generate": {"length": 32}},
                "policies": [
                    {
                        "Type": "Expiration",
                        "Version": "1.0",
                        "Attributes": {"Timestamp": "2027-01-31T09:00:00Z"},
                    }
                ],
            },
            "environments.prod.parameters[3].policies: apply to String and StringList parameters "
            "only",
        ),
        (
            {"name": "big", "type": "String", "value": "x" * 5000, "tier": "Standard"},
            "environments.prod.parameters[3].tier: must be 'Advanced': the value is over 4 KB or "
            "the parameter has policies",
        ),
        (
            {"name": "bad name", "type": "String", "value": "x"},
            "environments.prod.parameters[3].name: 'bad name' is not allowed; expected path "
            "segments of [a-zA-Z0-9_.-]",
        ),
    ],
)
def test_parameter_config_errors(parameter: dict[str, Any], message: str) -> None:
    raw = copy.deepcopy(default_strongbox_config())
    raw["environments"]["prod"]["parameters"].append(parameter)
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value) == message


def test_large_value_and_policies_choose_the_advanced_tier() -> None:
    raw = copy.deepcopy(default_strongbox_config())
    raw["environments"]["prod"]["parameters"] += [
        {"name": "catalogue", "type": "String", "value": "x" * 5000},
        {
            "name": "maintenance-window",
            "type": "String",
            "value": "sunday",
            "policies": [
                {
                    "Type": "Expiration",
                    "Version": "1.0",
                    "Attributes": {"Timestamp": "2027-01-01T00:00:00.000Z"},
                }
            ],
        },
    ]
    parameters = {p.name: p for p in parse_config(raw).environment("prod").parameters}
    assert parameters["catalogue"].tier == "Advanced"
    assert parameters["maintenance-window"].tier == "Advanced"
    assert parameters["log-level"].tier == "Standard"


# --- ParameterTree as a library ------------------------------------------------------------


@pytest.fixture
def tree() -> tuple[cdk.Stack, ParameterTree]:
    stack = cdk.Stack(
        feature_flag_app(),
        "Params",
        env=cdk.Environment(account="333333333333", region="eu-west-1"),
    )
    key = SecretsKey(
        stack,
        "Key",
        application="payments",
        environment_name="prod",
        access=KeyAccess(account="333333333333", regions=("eu-west-1",), encrypts_log_groups=True),
    ).key
    vpc = imported_isolated_vpc(stack)
    return stack, ParameterTree(
        stack,
        "Tree",
        application="payments",
        environment_name="prod",
        encryption_key=key,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        vpc_cidr="10.0.0.0/16",
    )


def test_tree_refuses_credentials_bad_names_and_duplicates(
    tree: tuple[cdk.Stack, ParameterTree],
) -> None:
    _, parameters = tree
    parameters.add_string("log-level", "INFO")
    with pytest.raises(ValueError, match="says it holds a credential"):
        parameters.add_string("api-token", "abc")
    with pytest.raises(ValueError, match="is already a parameter of /payments/prod/"):
        parameters.add_string("log-level", "DEBUG")
    with pytest.raises(ValueError, match="a parameter name is path segments"):
        parameters.add_string("/absolute", "x")
    with pytest.raises(ValueError, match="a StringList needs non-empty items without commas"):
        parameters.add_string_list("flags", ["a,b"])
    with pytest.raises(ValueError, match="give exactly one of generation or copy_from"):
        parameters.add_secure_string("salt")


def test_provider_may_read_a_value_kept_under_the_previous_key(
    tree: tuple[cdk.Stack, ParameterTree],
) -> None:
    """A KeyId change rewrites the value: GetParameter with decryption under the OLD key, then
    PutParameter under the new one. CloudFormation updates the provider's policy before the
    parameter, and by then it names only the new key. So the provider may decrypt through SSM
    under any key of its account, but only a value whose encryption context (PARAMETER_ARN, set
    by Parameter Store) is a parameter it manages."""
    stack, parameters = tree
    parameters.add_string("log-level", "INFO")
    parameters.add_secure_string("salt", generation=Generation(length=32))
    parameters.add_secure_string("session/pepper", generation=Generation(length=32))
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::ManagedPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    managed = [
        "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/salt",
        "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/session/pepper",
    ]
    any_key = "arn:aws:kms:eu-west-1:333333333333:key/*"
    (previous_key,) = [s for s in statements if s["Resource"] == any_key]
    assert previous_key == {
        "Action": "kms:Decrypt",
        "Condition": {
            "StringEquals": {
                "kms:EncryptionContext:PARAMETER_ARN": managed,
                "kms:ViaService": "ssm.eu-west-1.amazonaws.com",
            }
        },
        "Effect": "Allow",
        "Resource": any_key,
    }

    def decrypt(key: str, parameter: str, via: str | None) -> str:
        request = Request(
            caller_arn="arn:aws:iam::333333333333:role/provider",
            caller_account="333333333333",
            action="kms:Decrypt",
            resource=key,
            context={"kms:ViaService": via, "kms:EncryptionContext:PARAMETER_ARN": parameter},
        )
        return evaluate(statements, request, resource_based=False).effect

    old_key = "arn:aws:kms:eu-west-1:333333333333:key/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
    ssm = "ssm.eu-west-1.amazonaws.com"
    assert decrypt(old_key, managed[0], ssm) == "allow"
    assert decrypt(old_key, managed[1], ssm) == "allow"
    # Not a parameter it manages, not through SSM, not a key of its account: refused.
    log_level = "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/log-level"
    assert decrypt(old_key, log_level, ssm) == "none"
    assert decrypt(old_key, managed[0], "secretsmanager.eu-west-1.amazonaws.com") == "none"
    assert decrypt(old_key, managed[0], None) == "none"
    other_account = old_key.replace("333333333333", "444444444444")
    assert decrypt(other_account, managed[0], ssm) == "none"


def test_tree_grant_read_exact_names_and_decrypt_via_ssm(
    tree: tuple[cdk.Stack, ParameterTree],
) -> None:
    stack, parameters = tree
    parameters.add_string("log-level", "INFO")
    parameters.add_secure_string("salt", generation=Generation(length=32))
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    parameters.grant_read(role, ["log-level", "salt"])
    template = Template.from_stack(stack)
    (policy,) = template.find_resources(
        "AWS::IAM::Policy",
        {"Properties": {"Roles": [{"Ref": stack.get_logical_id(role.node.default_child)}]}},  # type: ignore[arg-type]
    ).values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements[0]["Action"] == ["ssm:GetParameter", "ssm:GetParameters"]
    assert statements[0]["Resource"] == [
        "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/log-level",
        "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/salt",
    ]
    assert statements[1]["Action"] == "kms:Decrypt"
    assert statements[1]["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"}
    }
    with pytest.raises(ValueError, match="not parameters of /payments/prod/: missing"):
        parameters.grant_read(role, ["missing"])
    database = ManagedSecret(
        stack,
        "Db",
        application="payments",
        environment_name="prod",
        purpose="db-credentials",
        kind="database",
        description="database credentials",
        owner="team-payments",
        encryption_key=parameters.encryption_key,
        rotation_disabled_reason="No database yet; rotation is attached when it exists.",
    )
    assert ParameterTree.secret_reference_name(database) == (
        "/aws/reference/secretsmanager/prod/payments/db-credentials"
    )


def test_a_copy_of_a_replicated_secret_reads_only_its_primary(
    tree: tuple[cdk.Stack, ParameterTree],
) -> None:
    """The provider runs in the primary region: its grant names the secret's primary ARN only,
    not the replica's (which it would be able to read without ever declaring it)."""
    stack, parameters = tree
    key = SecretsKey(
        stack,
        "ReplicatedKey",
        application="reports",
        environment_name="prod",
        access=KeyAccess(account="333333333333", regions=("eu-west-1", "eu-central-1")),
    )
    replica_key = kms.Key.from_key_arn(stack, "Replica", key.key_arn_in(stack, "eu-central-1"))
    secret = ManagedSecret(
        stack,
        "Token",
        application="reports",
        environment_name="prod",
        purpose="reporting-api-token",
        kind="api-key",
        description="A partner's token",
        owner="team-payments",
        encryption_key=key,
        rotation_disabled_reason="Issued and rotated by the partner in their own portal.",
        replica_regions=[
            secretsmanager.ReplicaRegion(region="eu-central-1", encryption_key=replica_key)
        ],
    )
    parameters.add_secure_string("copies/token", copy_from=secret)
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::ManagedPolicy").values()
    reads = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in statement["Action"]
    ]
    secret_id = stack.resolve(secret.secret.secret_arn)
    assert [statement["Resource"] for statement in reads] == [secret_id]
    assert "eu-central-1" not in json.dumps(policy)
