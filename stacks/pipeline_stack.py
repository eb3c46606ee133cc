"""The optional delivery pipeline: CDK Pipelines deploying the Strongbox-<Env> stages in waves."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import pipelines

from constructs import Construct, IConstruct
from stacks.buckets import logged_bucket
from stacks.config import EnvironmentConfig, PipelineConfig, PipelineSource
from stacks.stage import EnvironmentStage
from strongbox.compliance import acknowledge, acknowledge_all
from strongbox.keys import LOGS_ACTIONS
from strongbox.log_groups import AUDIT_RETENTION
from strongbox.verify.permissions import verify_policy

# The synth step runs the README's two commands: the suite (nag packs, cfn-lint, checkov, Guard,
# detect-secrets) gates every deployment, then the synth whose cdk.out the pipeline deploys.
SYNTH_COMMANDS = ("make test", "make synth")
# After each environment's deploy: `strongbox verify`, read-only, with the environment's verify
# role (VerifyRoleStack), against the cdk.out the wave deployed.
VERIFY_SETUP = "make setup"
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
        verify_roles: Mapping[str, VerifyRoleStage],
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
        self.access_logs, self.artifacts = logged_bucket(self, "Artifacts", self.key)
        source = _source(self, pipeline.source)
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
            synth=(
                synth := pipelines.ShellStep(
                    "Synth",
                    input=source,
                    commands=list(SYNTH_COMMANDS),
                    primary_output_directory="cdk.out",
                )
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
        verify_projects: list[str] = []
        for wave_names in waves(pipeline, environments):
            approval = [name for name in wave_names if name in pipeline.approval_before]
            wave_name = "-".join(wave_names).title()
            wave = self.pipeline.add_wave(
                wave_name,
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
                wave.add_stage(verify_roles[name])
                wave.add_post(
                    verify_step(self, application, name, verify_roles[name].role_arn, source, synth)
                )
                verify_projects.append(f"Pipeline/{wave_name}/Verify-{name}/Verify-{name}")
        # Built now rather than at synth, so its generated roles and policies can be checked.
        self.pipeline.build_pipeline()
        self._acknowledge(replication, verify_projects)

    def _acknowledge(
        self, replication: Mapping[str, PipelineReplicationStack], verify_projects: Sequence[str]
    ) -> None:
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
        for project in (
            "Pipeline/Build/Synth/CdkBuildProject",
            "UpdatePipeline/SelfMutation",
            *verify_projects,
        ):
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


def verify_step_role_name(application: str, environment: str) -> str:
    """The fixed name of the CodeBuild role that runs `strongbox verify` on `environment`: the
    only principal the environment's verify role trusts."""
    return f"{application}-{environment}-verify-step"


def verify_step(
    scope: Construct,
    application: str,
    environment: str,
    role_arn: str,
    source: pipelines.IFileSetProducer,
    synth: pipelines.IFileSetProducer,
) -> pipelines.CodeBuildStep:
    """`strongbox verify` of one environment after its wave: the checkout for the command, the
    synth's cdk.out for what was deployed, and the environment's verify role to assume (its
    only permission besides what CDK Pipelines grants a build: its logs and artifacts)."""
    step_role = iam.Role(
        scope,
        f"Verify{environment.title().replace('-', '')}StepRole",
        role_name=verify_step_role_name(application, environment),
        assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
        description=f"Runs strongbox verify on {environment} after its deploy",
    )
    return pipelines.CodeBuildStep(
        f"Verify-{environment}",
        role=step_role,
        input=source,
        additional_inputs={"cdk.out": synth},
        commands=[
            VERIFY_SETUP,
            f".venv/bin/strongbox verify --env {environment} --assembly cdk.out "
            f"--role-arn {role_arn}",
        ],
        role_policy_statements=[
            iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role_arn])
        ],
    )


class VerifyRoleStage(cdk.Stage):
    """The environment's verify role, deployed by the pipeline beside the environment's stage
    (a stage of its own: `cdk deploy` of `Strongbox-<Env>` stays the same with or without the
    pipeline)."""

    def __init__(
        self,
        scope: Construct,
        *,
        application: str,
        environment: EnvironmentConfig,
        pipeline_account: str,
    ) -> None:
        super().__init__(
            scope,
            f"Verify-{environment.stage_name}",
            env=cdk.Environment(account=environment.account, region=environment.region),
        )
        name = f"{application}-{environment.name}-verify"
        path = f"/strongbox/{application}/"
        self.role_arn = f"arn:aws:iam::{environment.account}:role{path}{name}"
        stack = cdk.Stack(
            self,
            "Role",
            description=f"Strongbox {environment.name}: the read-only role of strongbox verify",
        )
        stack.termination_protection = not environment.is_development
        statements = verify_policy(
            partition="aws",  # config refuses every other partition
            account=environment.account,
            regions=environment.regions,
            secret_prefix=f"{environment.name}/{application}/",
            stack_prefix=f"{environment.stage_name}-",
        )
        policy = iam.ManagedPolicy(
            stack,
            "ReadOnly",
            description=f"strongbox verify of {environment.stage_name}: reads, never a value",
            document=iam.PolicyDocument.from_json(
                {"Version": "2012-10-17", "Statement": statements}
            ),
        )
        _acknowledge_verify_policy(policy, statements)
        # Only the pipeline's verify step for this environment (a role of a fixed name).
        step_role = (
            f"arn:aws:iam::{pipeline_account}:role/"
            f"{verify_step_role_name(application, environment.name)}"
        )
        iam.Role(
            stack,
            "Role",
            role_name=name,
            path=path,
            description=f"Assumed by the pipeline to run strongbox verify on {environment.name}",
            assumed_by=iam.AccountPrincipal(pipeline_account).with_conditions(
                {"StringEquals": {"aws:PrincipalArn": step_role}}
            ),
            managed_policies=[policy],
        )


# Why each statement of the verify policy (strongbox.verify.permissions) names resources by a
# pattern: what a reviewer reads beside each AwsSolutions-IAM5 finding.
_VERIFY_PATTERNS = {
    "DescribeTheEnvironmentsSecrets": "The environment's secrets, whose ARNs end in a random "
    "suffix Secrets Manager adds: the name prefix <env>/<application>/ selects exactly them. "
    "Describe, resource policy and version ids only; never a value",
    "DetectDriftOfTheStagesStacks": "The stage's stacks, whose ARNs end in a stack id "
    "CloudFormation generates: the stack name prefix selects exactly them. Drift detection and "
    "descriptions only",
    "PollDriftDetection": "cloudformation:DescribeStackDriftDetectionStatus supports no "
    "resource-level permission (Service Authorization Reference); it returns the status of a "
    "detection this role started",
    "SimulateTheStagesRoles": "The stage's roles, named by CloudFormation after the stack or "
    "under the path /strongbox/<application>/: the simulator evaluates their policies, it "
    "grants nothing",
    "DriftReadsOfTheStagesIamResources": "Drift detection reads each IAM resource of the stage "
    "with the caller's permissions; the stage's roles, policies and instance profiles are "
    "named after its stacks or under /strongbox/<application>/. Get and List only",
    "DriftReadsOfTheEnvironmentsKeys": "Drift detection reads the environment's keys, whose ids "
    "are generated: any key of the region, narrowed by the kms:ResourceAliases condition to "
    "the environment's aliases. Describe, policy, rotation status and tags; never a "
    "cryptographic operation",
    "DriftReadsOfTheStagesResources": "Drift detection reads each resource of the stage with "
    "the caller's permissions; functions, queues, rules, topics, alarms and ECS resources are "
    "named after the stage's stacks, and aws:RequestedRegion keeps the reads in its regions. "
    "Describe, Get and List only",
    "DriftReadsOfTheStagesBuckets": "Drift detection reads the Config recorder's buckets, whose "
    "names CloudFormation derives from the stage's stack names: the lowercase stack prefix "
    "selects them. Bucket configuration only (policy, encryption, versioning, logging, tags), "
    "never an object",
    "DriftReadsWithoutResourceLevelPermissions": "These EC2, KMS, CloudWatch Logs and Config "
    "describe and list actions support no resource-level permission (Service Authorization "
    "Reference); they return metadata, never a secret value",
}


def _acknowledge_verify_policy(
    policy: iam.ManagedPolicy, statements: Sequence[Mapping[str, Any]]
) -> None:
    """Each pattern of the verify policy, acknowledged with its statement's reason."""
    reasons: dict[str, list[str]] = {}
    for statement in statements:
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            if "*" in resource:
                reasons.setdefault(resource, []).append(_VERIFY_PATTERNS[statement["Sid"]])
    for resource, why in reasons.items():
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]", "; ".join(why))


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
        self.access_logs, self.artifacts = logged_bucket(
            self, "Artifacts", self.alias, bucket_name=self.bucket_name
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
    assert pipeline.account is not None  # parse_config requires it when enabled
    verify_roles = {
        stage.environment.name: VerifyRoleStage(
            app,
            application=application,
            environment=stage.environment,
            pipeline_account=pipeline.account,
        )
        for stage in stages
    }
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
        verify_roles=verify_roles,
        cli_version=_cli_version(),
        description="Strongbox: the delivery pipeline (synth, tests, waves of environments)",
    )


def _cli_version() -> str:
    package = json.loads((Path(__file__).parents[1] / "package.json").read_text())
    return str(package["devDependencies"]["aws-cdk"])
