"""The optional delivery pipeline: CDK Pipelines deploying the Strongbox-<Env> stages in waves."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines

from constructs import Construct, IConstruct
from stacks.config import EnvironmentConfig, PipelineConfig, PipelineSource
from stacks.stage import EnvironmentStage
from strongbox.compliance import acknowledge, acknowledge_all
from strongbox.keys import LOGS_ACTIONS
from strongbox.log_groups import AUDIT_RETENTION

# The synth step runs the README's two commands: the suite (nag packs, cfn-lint, checkov, Guard,
# detect-secrets) gates every deployment, then the synth whose cdk.out the pipeline deploys.
SYNTH_COMMANDS = ("make test", "make synth")
# CodeBuild's standard image has Python 3.11, make and npm; `make` installs the pinned Node 24.
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
# The packs whose rules (inline policies, repository URLs, bucket replication and logging) the
# pipeline acknowledges; AwsSolutions has none of these rules.
_CONTROL_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


def waves(pipeline: PipelineConfig, environments: Sequence[EnvironmentConfig]) -> list[list[str]]:
    """Environment names per wave: as configured, or one environment per wave in config order."""
    if pipeline.waves:
        return [list(wave) for wave in pipeline.waves]
    return [[environment.name] for environment in environments]


def bootstrap_commands(
    pipeline: PipelineConfig, environments: Sequence[EnvironmentConfig]
) -> list[str]:
    """`cdk bootstrap` for the pipeline account, then for every account and region a stage
    deploys to (replica regions included), trusting the pipeline account."""
    commands = [
        f"cdk bootstrap aws://{pipeline.account}/{pipeline.region} "
        "--cloudformation-execution-policies arn:aws:iam::aws:policy/AdministratorAccess"
    ]
    targets = {
        (environment.account, region): None
        for environment in environments
        for region in environment.regions
    }
    for account, region in targets:
        commands.append(
            f"cdk bootstrap aws://{account}/{region} --trust {pipeline.account} "
            "--trust-for-lookup none "
            f"--cloudformation-execution-policies arn:aws:iam::{account}:policy/strongbox-deploy"
        )
    return commands


class PipelineStack(cdk.Stack):
    """CodePipeline in the pipeline account that synthesizes, tests and deploys the stages.

    Args:
        pipeline: the `pipeline` block of the config (enabled, with account, region, source).
        stages: the `Strongbox-<Env>` stages app.py builds (the same objects: one composition
            for `cdk deploy` and for the pipeline); their environments give waves and approvals.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        pipeline: PipelineConfig,
        stages: Sequence[EnvironmentStage],
        replication: Mapping[str, PipelineReplicationStack],
        cli_version: str,
        **kwargs: object,
    ) -> None:
        super().__init__(
            scope,
            id_,
            env=cdk.Environment(account=pipeline.account, region=pipeline.region),
            **kwargs,  # type: ignore[arg-type]
        )
        assert pipeline.source is not None  # parse_config requires it when enabled
        self.key = artifacts_key(self, application)
        self.access_logs, self.artifacts = artifact_buckets(self, self.key)
        self.build_logs = logs.LogGroup(
            self,
            "BuildLogs",
            encryption_key=self.key,
            retention=AUDIT_RETENTION,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=f"{application}-strongbox",
            synth=pipelines.ShellStep(
                "Synth",
                input=_source(self, pipeline.source),
                commands=list(SYNTH_COMMANDS),
                primary_output_directory="cdk.out",
            ),
            # One bucket per region the pipeline deploys to; this region's is the artifact store.
            cross_region_replication_buckets={
                self.region: self.artifacts,
                **{region: stack.artifacts for region, stack in replication.items()},
            },
            # The CLI of package.json, not whatever `aws-cdk@2` is newest that day.
            cli_version=cli_version,
            cross_account_keys=True,
            enable_key_rotation=True,
            pipeline_type=cdk.aws_codepipeline.PipelineType.V2,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=BUILD_IMAGE, privileged=False
                ),
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.build_logs)
                ),
                timeout=cdk.Duration.minutes(90),
            ),
            publish_assets_in_parallel=False,
        )
        environments = [stage.environment for stage in stages]
        by_name = {stage.environment.name: stage for stage in stages}
        for wave_names in waves(pipeline, environments):
            approval = [name for name in wave_names if name in pipeline.approval_before]
            wave = self.pipeline.add_wave(
                "-".join(wave_names).title(),
                pre=[
                    pipelines.ManualApprovalStep(
                        f"Approve-{'-'.join(approval)}",
                        comment=f"Deploy Strongbox to {', '.join(approval)}?",
                    )
                ]
                if approval
                else None,
            )
            for name in sorted(wave_names, key=list(by_name).index):
                wave.add_stage(by_name[name])
        # Built now rather than at synth, so its generated roles and policies can be checked.
        self.pipeline.build_pipeline()
        self._acknowledge(replication)

    def _acknowledge(self, replication: Mapping[str, PipelineReplicationStack]) -> None:
        """Findings in what CDK Pipelines generates, each with why it stands."""
        generated = (
            "CDK Pipelines generates this role for one pipeline action and attaches its grants as "
            "the role's default policy; the policy is created and deleted with that role and "
            "holds only the grants listed in this template"
        )
        for pack in _CONTROL_PACKS:
            acknowledge(self, f"{pack}-IAMNoInlinePolicy", generated)
            acknowledge(
                self,
                f"{pack}-CodeBuildProjectSourceRepoUrl",
                "The CodeBuild projects' source type is CODEPIPELINE: they receive the pipeline's "
                "artifacts; no repository URL or credentials are configured on any project (the "
                "source is pulled once, through the CodeConnections connection or CodeCommit)",
            )
        artifacts = (
            "CDK's read/write grant on the pipeline's own artifact bucket and its key: the "
            "action families (Get*, List*, Abort*, DeleteObject*, GenerateDataKey*, ReEncrypt*) "
            "apply to that one bucket and key, where CodePipeline writes objects under keys it "
            "generates per execution"
        )
        acknowledge_all(
            self,
            [
                f"AwsSolutions-IAM5[{finding}]"
                for finding in (
                    "Action::s3:Abort*",
                    "Action::s3:DeleteObject*",
                    "Action::s3:GetBucket*",
                    "Action::s3:GetObject*",
                    "Action::s3:List*",
                    "Action::kms:GenerateDataKey*",
                    "Action::kms:ReEncrypt*",
                    f"Resource::<{self.get_logical_id(_cfn(self.artifacts))}.Arn>/*",
                    *(
                        f"Resource::arn:aws:s3:::{stack.bucket_name}/*"
                        for stack in replication.values()
                    ),
                )
            ],
            artifacts,
        )
        acknowledge(
            self,
            "AwsSolutions-IAM5[Resource::*]",
            "Three grants CDK Pipelines cannot scope: the pipeline role uses the artifact key of "
            "each other region through its alias (a key ARN of another region is unknown at "
            "synth); self-mutation calls cloudformation:DescribeStacks and s3:ListBucket, which "
            "take no resource; the asset role starts and watches its CodeBuild builds. The "
            "pipeline account holds only the pipeline",
        )
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::arn:*:iam::{self.account}:role/*]",
            "Self-mutation assumes only the CDK bootstrap roles: the statement is conditioned on "
            "iam:ResourceTag/aws-cdk:bootstrap-role being image-publishing, file-publishing or "
            "deploy",
        )
        build_outputs = (
            "CodeBuild creates each build's log stream and test report group at run time under "
            "its project's name; the grant is limited to that project's prefix"
        )
        for project in ("Pipeline/Build/Synth/CdkBuildProject", "UpdatePipeline/SelfMutation"):
            logical_id = _logical_id(self.pipeline, project)
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::arn:aws:codebuild:{self.region}:{self.account}:"
                f"report-group/<{logical_id}>-*]",
                build_outputs,
            )
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::arn:aws:logs:{self.region}:{self.account}:"
                f"log-group:/aws/codebuild/<{logical_id}>:*]",
                build_outputs,
            )
        acknowledge_all(
            self,
            [
                f"AwsSolutions-IAM5[Resource::arn:aws:codebuild:{self.region}:{self.account}:"
                "report-group/*]",
                f"AwsSolutions-IAM5[Resource::arn:aws:logs:{self.region}:{self.account}:"
                "log-group:/aws/codebuild/*]",
            ],
            "CDK Pipelines' asset publishing role writes the logs and reports of the asset "
            "projects, whose names it does not pass to the role",
        )
        acknowledge_buckets(self)


class PipelineReplicationStack(cdk.Stack):
    """The pipeline's artifact bucket in another region it deploys to (CodePipeline copies the
    artifacts there for that region's deploy actions), encrypted and logged like the main one."""

    def __init__(self, scope: Construct, id_: str, *, application: str, **kwargs: object) -> None:
        super().__init__(scope, id_, **kwargs)  # type: ignore[arg-type]
        self.key = artifacts_key(self, application)
        # The pipeline stack refers to this bucket and key from its own region, which needs
        # names fixed at synth: the bucket's (the account makes it globally unique) and the
        # key's through an alias.
        self.bucket_name = f"{application}-pipeline-artifacts-{self.account}-{self.region}"
        self.alias = kms.Alias(
            self,
            "ArtifactsAlias",
            alias_name=f"alias/{application}/pipeline-replication",
            target_key=self.key,
        )
        self.access_logs, self.artifacts = artifact_buckets(
            self, self.alias, bucket_name=self.bucket_name
        )
        acknowledge_buckets(self)


def artifacts_key(scope: Construct, application: str) -> kms.Key:
    """The customer-managed key of the pipeline's artifacts (and build logs) in one region."""
    stack = cdk.Stack.of(scope)
    key = kms.Key(
        scope,
        "ArtifactsKey",
        description=f"Encrypts the {application} pipeline's artifacts and build logs",
        enable_key_rotation=True,
        alias=f"alias/{application}/pipeline",
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsEncryptBuildLogs",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=list(LOGS_ACTIONS),
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                    )
                }
            },
        )
    )
    return key


def artifact_buckets(
    scope: Construct, key: kms.IKey, *, bucket_name: str | None = None
) -> tuple[s3.Bucket, s3.Bucket]:
    """(access log bucket, artifacts bucket): versioned, TLS only, private, kept."""
    access_logs = s3.Bucket(
        scope,
        "AccessLogs",
        # S3 server access logging delivers only to SSE-S3 buckets.
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    artifacts = s3.Bucket(
        scope,
        "Artifacts",
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix="artifacts/",
        lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=cdk.Duration.days(90))],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    return access_logs, artifacts


def acknowledge_buckets(stack: cdk.Stack) -> None:
    """The bucket findings of a pipeline region, with why they stand."""
    for pack in _CONTROL_PACKS:
        acknowledge(
            stack,
            f"{pack}-S3BucketReplicationEnabled",
            "Pipeline artifacts are rebuilt from the source repository by every run, and the "
            "access logs describe only this region's artifact bucket; a copy in another region "
            "would not make a lost region's pipeline recoverable",
        )
        acknowledge(
            stack,
            f"{pack}-S3DefaultEncryptionKMS",
            "The access-log bucket: S3 server access logging delivers only to buckets encrypted "
            "with SSE-S3, not SSE-KMS; the artifact bucket it logs is encrypted with the CMK",
        )


def _cfn(construct: IConstruct) -> cdk.CfnElement:
    child = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
    assert isinstance(child, cdk.CfnElement)
    return child


def _logical_id(scope: IConstruct, path: str) -> str:
    """The logical id of the CloudFormation resource at `path` below `scope`."""
    construct = scope
    for part in path.split("/"):
        construct = construct.node.find_child(part)
    return cdk.Stack.of(scope).get_logical_id(_cfn(construct))


def _source(scope: Construct, source: PipelineSource) -> pipelines.CodePipelineSource:
    if source.connection_arn is not None:
        return pipelines.CodePipelineSource.connection(
            source.repository,
            source.branch,
            connection_arn=source.connection_arn,
            # Shallow clone: the build needs the tree, not the history.
            code_build_clone_output=False,
        )
    repository = codecommit.Repository.from_repository_name(scope, "Repository", source.repository)
    return pipelines.CodePipelineSource.code_commit(repository, source.branch)


def build_pipeline(
    app: cdk.App,
    application: str,
    pipeline: PipelineConfig,
    stages: Sequence[EnvironmentStage],
) -> PipelineStack:
    """The pipeline stack, and an artifact bucket stack in every other region it deploys to."""
    environments = [stage.environment for stage in stages]
    regions = sorted(
        {region for environment in environments for region in environment.regions}
        - {pipeline.region}
    )
    replication = {
        region: PipelineReplicationStack(
            app,
            f"Strongbox-Pipeline-{region}",
            application=application,
            env=cdk.Environment(account=pipeline.account, region=region),
            description=f"Strongbox pipeline: artifact bucket in {region}",
        )
        for region in regions
    }
    return PipelineStack(
        app,
        "Strongbox-Pipeline",
        application=application,
        pipeline=pipeline,
        stages=stages,
        replication=replication,
        cli_version=_cli_version(),
        description="Strongbox: the delivery pipeline (synth, tests, waves of environments)",
    )


def _cli_version() -> str:
    package = json.loads((Path(__file__).parents[1] / "package.json").read_text())
    return str(package["devDependencies"]["aws-cdk"])
