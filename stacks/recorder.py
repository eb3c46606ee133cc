"""The AWS Config recorder Strongbox creates when `detection.create_recorder` is true."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct
from stacks.buckets import logged_bucket
from strongbox.access.calls import Call, Runtime
from strongbox.access.declare import declare_runtime
from strongbox.compliance import acknowledge, acknowledge_all

# What the rules judge; recording nothing else keeps the configuration items (and their cost) to
# the environment's concern.
RECORDED_TYPES = ("AWS::SecretsManager::Secret", "AWS::KMS::Key")
# What Config reads to record those two types: the Secrets Manager and KMS actions of AWS's
# AWS_ConfigRole (the policy AWS keeps for a recorder of every type). Metadata only: no secret
# value, no cryptographic operation.
RECORDING_ACTIONS = {
    "secretsmanager": (
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetResourcePolicy",
        "secretsmanager:ListSecretVersionIds",
    ),
    "kms": (
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:ListResourceTags",
    ),
    # Listing takes no resource (Service Authorization Reference).
    "*": ("secretsmanager:ListSecrets", "kms:ListKeys", "kms:ListAliases"),
    # Config's own actions, as AWS_ConfigRole grants them: managed rules put their evaluations
    # with the recorder's role (PutConfigRule fails when that role lacks config:Put*).
    "config": (
        "config:BatchGet*",
        "config:Describe*",
        "config:Get*",
        "config:List*",
        "config:Put*",
        "config:Select*",
    ),
}
_CONTROL_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


class ConfigRecorder(Construct):
    """A configuration recorder of this region recording secrets and KMS keys only, started by
    CloudFormation once its delivery channel exists, which delivers to a versioned bucket
    encrypted with a key of its own. The recorder's role may read those two types' metadata
    (`RECORDING_ACTIONS`) and write only the bucket's `AWSLogs/<account>/` prefix with that key.

    A region holds one recorder: where one exists (Control Tower's, an organization's), the
    deploy fails rather than create a second.

    Attributes:
        recorder: the `CfnConfigurationRecorder`. Rules that need it depend on this whole
            construct: the recorder, its started channel and its role's policies.
        key: the history's KMS key.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        description: str,
        alias_name: str,
        recorded_keys: Sequence[str],
        recorded_secrets: Sequence[str],
    ) -> None:
        """
        Args:
            description: whose recorder, e.g. "Strongbox prod".
            alias_name: the alias of the history's key (`alias/<application>/<env>/...`, which
                the verify role's key reads are held to).
            recorded_keys, recorded_secrets: ARNs of the environment's keys and secrets in
                this region; the recorder's reads of them are declared for the call-path proof
                (a key policy that shut the recorder out would leave the key unrecorded).
        """
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the Config history of {description}",
            enable_key_rotation=True,
            # The history is audit evidence: kept, with its key, in every environment.
            pending_window=cdk.Duration.days(30),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        key.add_alias(alias_name)
        self.key = key
        access_logs, bucket = logged_bucket(self, "History", key)
        role = iam.Role(
            self,
            "Role",
            description=f"The Config recorder of {description}",
            assumed_by=iam.ServicePrincipal(
                "config.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
        )
        # The aws partition: config refuses every other.
        region = f"arn:aws:{{}}:{stack.region}:{stack.account}:{{}}"
        recording = iam.ManagedPolicy(
            self,
            "Recording",
            description=f"Config records the secrets and keys of {description}'s region",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=list(RECORDING_ACTIONS["secretsmanager"]),
                    resources=[region.format("secretsmanager", "secret:*")],
                ),
                iam.PolicyStatement(
                    actions=list(RECORDING_ACTIONS["kms"]),
                    resources=[region.format("kms", "key/*")],
                ),
                iam.PolicyStatement(actions=list(RECORDING_ACTIONS["*"]), resources=["*"]),
                iam.PolicyStatement(actions=list(RECORDING_ACTIONS["config"]), resources=["*"]),
            ],
        )
        delivery = iam.ManagedPolicy(
            self,
            "Delivery",
            description=f"Config delivers the history of {description} to its bucket",
            roles=[role],
            statements=[
                iam.PolicyStatement(actions=["s3:GetBucketAcl"], resources=[bucket.bucket_arn]),
                iam.PolicyStatement(
                    actions=["s3:PutObject"],
                    resources=[bucket.arn_for_objects(f"AWSLogs/{stack.account}/*")],
                ),
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn]
                ),
            ],
        )
        self.recorder = config.CfnConfigurationRecorder(
            self,
            "Recorder",
            role_arn=role.role_arn,
            recording_group=config.CfnConfigurationRecorder.RecordingGroupProperty(
                all_supported=False,
                include_global_resource_types=False,
                resource_types=list(RECORDED_TYPES),
                recording_strategy=config.CfnConfigurationRecorder.RecordingStrategyProperty(
                    use_only="INCLUSION_BY_RESOURCE_TYPES"
                ),
            ),
        )
        channel = config.CfnDeliveryChannel(
            self,
            "Channel",
            s3_bucket_name=bucket.bucket_name,
            s3_kms_key_arn=key.key_arn,
        )
        history = bucket.arn_for_objects(f"AWSLogs/{stack.account}/Config/{stack.region}/")
        context = {"kms:EncryptionContext:aws:s3:arn": bucket.bucket_arn}
        declare_runtime(
            self,
            Runtime(
                name=f"Config recorder of {description}",
                kind="role",
                principal=role.role_arn,
                calls=(
                    *(
                        Call(action, secret, purpose="record a secret")
                        for secret in recorded_secrets
                        for action in RECORDING_ACTIONS["secretsmanager"]
                    ),
                    *(
                        Call(action, recorded, purpose="record a key")
                        for recorded in recorded_keys
                        for action in RECORDING_ACTIONS["kms"]
                    ),
                    Call("s3:GetBucketAcl", bucket.bucket_arn, purpose="deliver"),
                    Call("s3:PutObject", history, purpose="deliver the history"),
                    Call(
                        "kms:GenerateDataKey",
                        key.key_arn,
                        via="s3",
                        context=context,
                        purpose="deliver the history, encrypted",
                    ),
                ),
            ),
        )
        # The channel needs the recorder; the recorder writes only once the role may deliver.
        channel.node.add_dependency(self.recorder)
        self.recorder.node.add_dependency(delivery, recording)
        acknowledge_all(
            self,
            [
                f"AwsSolutions-IAM5[Resource::{region.format('secretsmanager', 'secret:*')}]",
                f"AwsSolutions-IAM5[Resource::{region.format('kms', 'key/*')}]",
                "AwsSolutions-IAM5[Resource::*]",
            ],
            "A recorder records every secret and KMS key of its region (Config records by "
            "resource type, not by name), so it reads their metadata: describe, resource or "
            "key policy, version ids, rotation status and tags; listing and Config's own "
            "actions take no resource. No GetSecretValue and no cryptographic operation",
        )
        acknowledge_all(
            self,
            [f"AwsSolutions-IAM5[Action::{action}]" for action in RECORDING_ACTIONS["config"]],
            "Config's own actions as AWS's AWS_ConfigRole grants them to a recorder: managed "
            "rules put their evaluations with this role. Only config.amazonaws.com of this "
            "account assumes it",
        )
        acknowledge(
            delivery,
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(_cfn(bucket))}.Arn>/AWSLogs/"
            f"{stack.account}/*]",
            "Config writes its snapshots and history under AWSLogs/<account>/Config/<region>/ "
            "with names it generates; only that prefix of this recorder's bucket",
        )
        for pack in _CONTROL_PACKS:
            acknowledge_all(
                access_logs,
                [f"{pack}-S3DefaultEncryptionKMS"],
                "The access-log bucket: S3 server access logging delivers only to buckets "
                "encrypted with SSE-S3, not SSE-KMS; the history bucket it logs is encrypted "
                "with a customer-managed key",
            )
            acknowledge(
                self,
                f"{pack}-S3BucketReplicationEnabled",
                "Config's history describes this region's secrets and keys and is rebuilt by "
                "the recorder from the resources themselves; the environment's resources are "
                "retained and replicated where configured",
            )


def _cfn(construct: Construct) -> cdk.CfnElement:
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnElement)
    return child
