"""The read-only IAM policy of the role that runs `strongbox verify` in one environment."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The attachable file, written from `verify_policy` with the placeholders below (a test keeps
# it current): `python -m strongbox.verify.permissions --template > .../verify-policy.json`.
POLICY_FILE = Path(__file__).with_name("verify-policy.json")
TEMPLATE_PARTITION = "<partition>"
TEMPLATE_ACCOUNT = "<account>"
TEMPLATE_REGION = "<region>"
TEMPLATE_NAMES = "<env>/<application>/"  # the environment's secret names start with this
TEMPLATE_STACKS = "Strongbox-<Env>-"

# What CloudFormation's drift detection reads for each resource type a Strongbox stage deploys
# (the types' read handlers), grouped by how tightly each action can be scoped.
_DRIFT_READS_ANY_RESOURCE = (
    # No resource-level permissions: these actions take only "*".
    "ec2:DescribeFlowLogs",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
    "kms:ListAliases",
    "logs:DescribeLogGroups",
    # The Config rules and, where Strongbox creates it, the recorder and its delivery channel.
    "config:DescribeConfigRules",
    "config:DescribeConfigurationRecorders",
    "config:DescribeDeliveryChannels",
)
# The reads of the recorder's buckets, whose names CloudFormation derives from the stack's
# (lowercase, so `strongbox-staging-secrets-...`).
_DRIFT_READS_OF_BUCKETS = (
    "s3:GetBucketLogging",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
)
_DESCRIBE_READS = "DescribeTheEnvironmentsSecrets"
# Every resource type a Strongbox stage deploys, and the statement whose reads let drift
# detection read it (tests/test_verify.py fails on a type of the assembly not listed here).
DRIFT_READ_STATEMENTS = {
    "AWS::CDK::Metadata": None,  # not a resource of the account
    "AWS::CloudWatch::Alarm": "DriftReadsOfTheStagesResources",
    "AWS::Config::ConfigRule": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::Config::ConfigurationRecorder": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::Config::DeliveryChannel": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::FlowLog": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::LaunchTemplate": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::RouteTable": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::SecurityGroup": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::SecurityGroupEgress": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::SecurityGroupIngress": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::Subnet": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::SubnetRouteTableAssociation": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::VPC": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::EC2::VPCEndpoint": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::ECS::Cluster": "DriftReadsOfTheStagesResources",
    "AWS::ECS::Service": "DriftReadsOfTheStagesResources",
    "AWS::ECS::TaskDefinition": "DriftReadsOfTheStagesResources",
    "AWS::Events::Rule": "DriftReadsOfTheStagesResources",
    "AWS::IAM::InstanceProfile": "DriftReadsOfTheStagesIamResources",
    "AWS::IAM::ManagedPolicy": "DriftReadsOfTheStagesIamResources",
    "AWS::IAM::Role": "DriftReadsOfTheStagesIamResources",
    "AWS::KMS::Alias": "DriftReadsWithoutResourceLevelPermissions",
    "AWS::KMS::Key": "DriftReadsOfTheEnvironmentsKeys",
    "AWS::KMS::ReplicaKey": "DriftReadsOfTheEnvironmentsKeys",
    "AWS::Lambda::Function": "DriftReadsOfTheStagesResources",
    "AWS::Lambda::Permission": "DriftReadsOfTheStagesResources",
    "AWS::Logs::LogGroup": "DriftReadsOfTheStagesResources",
    "AWS::RDS::DBInstance": "DriftReadsOfTheStagesResources",
    "AWS::RDS::DBSubnetGroup": "DriftReadsOfTheStagesResources",
    "AWS::S3::Bucket": "DriftReadsOfTheStagesBuckets",
    "AWS::S3::BucketPolicy": "DriftReadsOfTheStagesBuckets",
    "AWS::SNS::Subscription": "DriftReadsOfTheStagesResources",
    "AWS::SNS::Topic": "DriftReadsOfTheStagesResources",
    "AWS::SNS::TopicPolicy": "DriftReadsOfTheStagesResources",
    "AWS::SQS::Queue": "DriftReadsOfTheStagesResources",
    "AWS::SQS::QueuePolicy": "DriftReadsOfTheStagesResources",
    "AWS::SSM::Parameter": "DriftReadsOfTheStagesResources",
    "AWS::SecretsManager::ResourcePolicy": _DESCRIBE_READS,
    "AWS::SecretsManager::RotationSchedule": _DESCRIBE_READS,
    "AWS::SecretsManager::Secret": _DESCRIBE_READS,
    "AWS::SecretsManager::SecretTargetAttachment": _DESCRIBE_READS,
    "AWS::StepFunctions::StateMachine": "DriftReadsOfTheStagesResources",
    # Drift detection does not check custom resources (CloudFormation user guide, "Detect
    # drift": resources that support drift detection).
    "Custom::SecureStringParameter": None,
    "Custom::VpcRestrictDefaultSG": None,
}
_DRIFT_READS_IN_REGION = {
    # service: (actions, resource ARN tails in the stage's account and regions)
    "lambda": (
        ("lambda:GetFunction", "lambda:GetFunctionCodeSigningConfig", "lambda:GetPolicy"),
        ("function:{stack_prefix}*",),
    ),
    "logs": (("logs:ListTagsForResource", "logs:ListTagsLogGroup"), ("log-group:*",)),
    "sqs": (("sqs:GetQueueAttributes", "sqs:ListQueueTags"), ("{stack_prefix}*",)),
    "events": (("events:DescribeRule", "events:ListTargetsByRule"), ("rule/{stack_prefix}*",)),
    "ssm": (("ssm:GetParameters", "ssm:ListTagsForResource"), ("parameter/*",)),
    "rds": (
        ("rds:DescribeDBInstances", "rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"),
        ("db:*", "subgrp:*"),
    ),
    "sns": (
        (
            "sns:GetSubscriptionAttributes",
            "sns:GetTopicAttributes",
            "sns:ListSubscriptionsByTopic",
            "sns:ListTagsForResource",
        ),
        ("{stack_prefix}*",),
    ),
    "cloudwatch": (
        ("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
        ("alarm:{stack_prefix}*",),
    ),
    "ecs": (
        (
            "ecs:DescribeClusters",
            "ecs:DescribeServices",
            "ecs:DescribeTaskDefinition",
            "ecs:ListTagsForResource",
        ),
        ("cluster/{stack_prefix}*", "service/{stack_prefix}*/*", "task-definition/*:*"),
    ),
    "states": (
        ("states:DescribeStateMachine", "states:ListTagsForResource"),
        ("stateMachine:*",),
    ),
}


def verify_policy(
    *,
    partition: str,
    account: str,
    regions: Sequence[str],
    secret_prefix: str,
    stack_prefix: str,
) -> list[dict[str, Any]]:
    """The statements of the read-only policy that `strongbox verify` needs in one environment.

    `secret_prefix` is the environment's secret name prefix `<env>/<application>/` (its two
    parts also name the key aliases `alias/<application>/<env>/...` and the role path
    `/strongbox/<application>/`); `stack_prefix` is the stage's stack name prefix
    (`Strongbox-Prod-`); `regions` are the regions the stage deploys to (primary and replicas).

    What it grants, and how tightly:
    - Secrets Manager: DescribeSecret, GetResourcePolicy and ListSecretVersionIds on the
      environment's secrets only (`secret:<env>/<application>/*` in each region). Never
      GetSecretValue: verify reads no secret value.
    - CloudFormation: DetectStackDrift, DetectStackResourceDrift, DescribeStackResourceDrifts,
      ListStackResources, DescribeStackResources and DescribeStacks on the stage's stacks
      (`stack/<stack_prefix>*/*`); DescribeStackDriftDetectionStatus takes no resource, so "*".
    - IAM: SimulatePrincipalPolicy on the stage's roles only (CloudFormation-named
      `role/<stack_prefix>*` and config-named `role/strongbox/<application>/*`).
    - Drift detection reads: DetectStackDrift runs with the CALLER's permissions; CloudFormation
      reads every resource of the stack through each type's read handler, and a resource the
      caller cannot read makes the detection fail (verify then reports DETECTION_FAILED with
      CloudFormation's reason, never a silent pass). So the policy also grants the read
      (Describe/Get/List) actions of every resource type a Strongbox stage deploys: IAM roles,
      managed policies and instance profiles of the stage; KMS keys only where the key carries
      an alias `alias/<application>/<env>/*` (the kms:ResourceAliases condition); Lambda, SQS,
      EventBridge, SNS, CloudWatch, ECS resources named after the stage's stacks; SSM
      parameters, RDS instances, log groups and state machines in the account (these regional
      reads are held to `regions` by aws:RequestedRegion, so the policy's size does not grow
      with the regions: about 4,700 characters for six, a managed policy holds 6,144);
      EC2 Describe* and kms:ListAliases and logs:DescribeLogGroups on "*" (they take no
      resource). None of these reads a secret or parameter value that is not already in a
      template: SecureString parameters are not CloudFormation resources, and
      ssm:GetParameters without kms:Decrypt cannot decrypt one.
    """
    environment, application = _prefix_parts(secret_prefix)
    if not stack_prefix or "*" in stack_prefix:
        raise ValueError(f"stack_prefix {stack_prefix!r}: expected a stack name prefix")
    if not regions:
        raise ValueError("regions: at least one region")

    def arns(service: str, tails: Sequence[str], *, regional: bool = True) -> list[str]:
        where = [(region, account) for region in regions] if regional else [("", account)]
        return [
            f"arn:{partition}:{service}:{region}:{owner}:{tail}"
            for region, owner in where
            for tail in tails
        ]

    iam_roles = arns(
        "iam", [f"role/{stack_prefix}*", f"role/strongbox/{application}/*"], regional=False
    )
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DescribeTheEnvironmentsSecrets",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetResourcePolicy",
                "secretsmanager:ListSecretVersionIds",
            ],
            "Resource": arns("secretsmanager", [f"secret:{secret_prefix}*"]),
        },
        {
            "Sid": "DetectDriftOfTheStagesStacks",
            "Effect": "Allow",
            "Action": [
                "cloudformation:DescribeStackResourceDrifts",
                "cloudformation:DescribeStackResources",
                "cloudformation:DescribeStacks",
                "cloudformation:DetectStackDrift",
                "cloudformation:DetectStackResourceDrift",
                "cloudformation:ListStackResources",
            ],
            "Resource": arns("cloudformation", [f"stack/{stack_prefix}*/*"]),
        },
        {
            "Sid": "PollDriftDetection",
            "Effect": "Allow",
            "Action": ["cloudformation:DescribeStackDriftDetectionStatus"],
            "Resource": "*",
        },
        {
            "Sid": "SimulateTheStagesRoles",
            "Effect": "Allow",
            "Action": ["iam:SimulatePrincipalPolicy"],
            "Resource": iam_roles,
        },
        {
            "Sid": "DriftReadsOfTheStagesIamResources",
            "Effect": "Allow",
            "Action": [
                "iam:GetInstanceProfile",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListPolicyVersions",
                "iam:ListRolePolicies",
                "iam:ListRoleTags",
            ],
            "Resource": [
                *iam_roles,
                *arns(
                    "iam",
                    [f"policy/{stack_prefix}*", f"instance-profile/{stack_prefix}*"],
                    regional=False,
                ),
            ],
        },
        {
            "Sid": "DriftReadsOfTheEnvironmentsKeys",
            "Effect": "Allow",
            "Action": [
                "kms:DescribeKey",
                "kms:GetKeyPolicy",
                "kms:GetKeyRotationStatus",
                "kms:ListResourceTags",
            ],
            "Resource": arns("kms", ["key/*"]),
            "Condition": {
                "ForAnyValue:StringLike": {
                    "kms:ResourceAliases": f"alias/{application}/{environment}/*"
                }
            },
        },
        {
            "Sid": "DriftReadsOfTheStagesResources",
            "Effect": "Allow",
            "Action": sorted(
                action for actions, _ in _DRIFT_READS_IN_REGION.values() for action in actions
            ),
            # One ARN per resource kind with any region, held to the stage's regions by
            # aws:RequestedRegion: the same grant as an ARN per region, at a size that does not
            # grow with the regions (a managed policy holds 6,144 characters).
            "Resource": sorted(
                f"arn:{partition}:{service}:*:{account}:{tail.format(stack_prefix=stack_prefix)}"
                for service, (_, tails) in _DRIFT_READS_IN_REGION.items()
                for tail in tails
            ),
            "Condition": {"StringEquals": {"aws:RequestedRegion": list(regions)}},
        },
        {
            "Sid": "DriftReadsOfTheStagesBuckets",
            "Effect": "Allow",
            "Action": list(_DRIFT_READS_OF_BUCKETS),
            "Resource": f"arn:{partition}:s3:::{stack_prefix.lower()}*",
        },
        {
            "Sid": "DriftReadsWithoutResourceLevelPermissions",
            "Effect": "Allow",
            "Action": list(_DRIFT_READS_ANY_RESOURCE),
            "Resource": "*",
        },
    ]
    return statements


def policy_document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The statements as an IAM policy document."""
    return {"Version": "2012-10-17", "Statement": statements}


def template_text() -> str:
    """The attachable JSON file's text: the policy with placeholders for the environment."""
    statements = verify_policy(
        partition=TEMPLATE_PARTITION,
        account=TEMPLATE_ACCOUNT,
        regions=(TEMPLATE_REGION,),
        secret_prefix=TEMPLATE_NAMES,
        stack_prefix=TEMPLATE_STACKS,
    )
    return json.dumps(policy_document(statements), indent=2) + "\n"


def _prefix_parts(secret_prefix: str) -> tuple[str, str]:
    parts = secret_prefix.split("/")
    if len(parts) != 3 or not all(parts[:2]) or parts[2]:
        raise ValueError(
            f"secret_prefix {secret_prefix!r}: expected '<env>/<application>/' "
            "(e.g. 'prod/payments/')"
        )
    return parts[0], parts[1]


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the policy document for one environment (or, with --template, the attachable
    file's placeholder form)."""
    parser = argparse.ArgumentParser(
        prog="python -m strongbox.verify.permissions", description=main.__doc__
    )
    parser.add_argument("--template", action="store_true", help="the placeholder form")
    parser.add_argument("--partition", default="aws")
    parser.add_argument("--account")
    parser.add_argument("--region", action="append", dest="regions", default=[])
    parser.add_argument("--secret-prefix", help="<env>/<application>/, e.g. prod/payments/")
    parser.add_argument(
        "--stack-prefix", help="the stage's stack name prefix, e.g. Strongbox-Prod-"
    )
    arguments = parser.parse_args(argv)
    if arguments.template:
        sys.stdout.write(template_text())
        return 0
    if not (
        arguments.account
        and arguments.regions
        and arguments.secret_prefix
        and arguments.stack_prefix
    ):
        parser.error("--account, --region, --secret-prefix and --stack-prefix are required")
    try:
        statements = verify_policy(
            partition=arguments.partition,
            account=arguments.account,
            regions=arguments.regions,
            secret_prefix=arguments.secret_prefix,
            stack_prefix=arguments.stack_prefix,
        )
    except ValueError as error:
        print(f"strongbox.verify.permissions: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(policy_document(statements), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
