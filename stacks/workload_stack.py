"""Workload stack: the environment's ECS Fargate service, reading exactly its secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as sfn_tasks

from constructs import Construct
from stacks.config import EnvironmentConfig, InstanceConfig
from stacks.database_stack import DatabaseStack
from stacks.network_stack import NetworkStack
from stacks.reader_roles import reader_role
from strongbox import (
    ManagedSecret,
    ParameterTree,
    ParameterUse,
    SecretConsumer,
    SecretsKey,
    SecretUse,
    acknowledge,
)
from strongbox.access.calls import Call, Runtime, assumed_by
from strongbox.access.declare import declare_runtime
from strongbox.execution_role import TaskExecutionRole, declare_ecs_assumes
from strongbox.log_groups import encrypted_log_group
from strongbox.naming import pascal_case
from strongbox.reading_function import SecretReadingFunction
from strongbox.trust import source_conditions

# Secrets per restart-on-rotation rule: ten complete ARNs keep its pattern well inside 2,048.
SECRETS_PER_RESTART_RULE = 10


# What a state machine needs to deliver its logs and traces; none of these takes a resource.
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
)


def env_var(*parts: str) -> str:
    """`db-credentials`, `password` -> `DB_CREDENTIALS_PASSWORD`."""
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", part).upper() for part in parts)


class WorkloadStack(cdk.Stack):
    """The configured service on Fargate in the isolated subnets, no public IP, read-only root
    filesystem, non-root user, logs to a CMK-encrypted group. Secrets arrive through the task
    definition's `secrets` block only; the execution role holds the SecretConsumer's policies
    and a hand-scoped ECR-pull and logs policy, no AWS-managed policy; the task role nothing.

    Attributes:
        consumer: the `SecretConsumer` (which secrets and parameters, as env vars).
        task_definition, service, execution_role, task_role.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        secrets_key: SecretsKey,
        network: NetworkStack,
        secrets: Mapping[str, ManagedSecret],
        parameters: Mapping[str, ParameterTree],
        database: DatabaseStack | None,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        workload = environment.workload
        assert workload is not None  # the stage adds this stack only for a configured workload
        self._environment, self._secrets, self._parameters = environment, secrets, parameters
        self.consumer = self._consumer_of(workload.service, "Secrets")
        log_group = encrypted_log_group(
            self, "Logs", encryption_key=secrets_key.key, removal_policy=removal_policy
        )
        repository = ecr.Repository.from_repository_name(
            self, "Repository", workload.image_repository
        )
        execution = reader_role(application, environment.name, workload.service, "execution")
        self.execution = TaskExecutionRole(
            self,
            "Execution",
            consumer=self.consumer,
            log_group=log_group,
            repository=repository,
            role_name=execution.name,
            path=execution.path,
            description=f"Starts {workload.service}: pulls its image, writes its logs, reads "
            "exactly its secrets",
        )
        # The logical ids these had before TaskExecutionRole existed: a role with a fixed name
        # cannot move to a new logical id (CloudFormation creates the new one first and finds
        # the name taken).
        for resource, logical_id in (
            (self.execution.role, "ExecutionRole605A040B"),
            (self.execution.policy, "ExecutionPolicy85A56BE8"),
        ):
            resource.node.default_child.override_logical_id(logical_id)  # type: ignore[union-attr]
        self.execution_role = self.execution.role
        self.task_role = iam.Role(
            self,
            "TaskRole",
            # Confused deputy: only for this account's tasks in this region (ECS developer guide,
            # "Amazon ECS task IAM role"); naming one cluster is not supported, hence the wildcard.
            assumed_by=iam.ServicePrincipal(
                "ecs-tasks.amazonaws.com",
                conditions=source_conditions(
                    self.account, f"arn:{self.partition}:ecs:{self.region}:{self.account}:*"
                ),
            ),
            description=f"{workload.service} at run time: nothing until it needs something",
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=256,
            memory_limit_mib=512,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            # Immutable for the CDK: its implicit grants (image, logs, secrets) would be wider.
            execution_role=self.execution.role_for_task_definition,
            task_role=self.task_role,
        )
        self.task_definition.add_container(
            workload.service,
            image=ecs.ContainerImage.from_ecr_repository(repository, workload.image_tag),
            secrets=self.consumer.ecs_secrets(),
            readonly_root_filesystem=True,
            user="1000:1000",
            port_mappings=[ecs.PortMapping(container_port=workload.port)],
            logging=ecs.LogDriver.aws_logs(stream_prefix=workload.service, log_group=log_group),
        )
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        group = ec2.SecurityGroup(
            self,
            "ServiceSecurityGroup",
            vpc=network.vpc,
            description=f"{workload.service}: HTTPS to AWS endpoints (isolated subnets)",
            allow_all_outbound=False,
        )
        # ECR image layers come from S3 through the gateway endpoint, whose addresses are a
        # managed prefix list that synth cannot look up. The subnets have no internet or NAT
        # gateway, so HTTPS to anywhere reaches only the VPC's endpoints and S3's gateway route.
        group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: VPC endpoints and the S3 gateway"
        )
        if database is not None:
            # Both rules live here, so the Database stack does not depend on this one.
            port = ec2.Port.tcp(database.port)
            group.add_egress_rule(
                ec2.Peer.security_group_id(database.security_group.security_group_id),
                port,
                "PostgreSQL",
            )
            ec2.CfnSecurityGroupIngress(
                self,
                "DatabaseFromService",
                group_id=database.security_group.security_group_id,
                source_security_group_id=group.security_group_id,
                ip_protocol="tcp",
                from_port=database.port,
                to_port=database.port,
                description=f"{workload.service} to PostgreSQL",
            )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            desired_count=workload.desired_count,
            assign_public_ip=False,
            vpc_subnets=network.isolated_subnets,
            security_groups=[group],
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            # New tasks start before old ones stop: a deploy never drops below desired_count.
            min_healthy_percent=100,
            max_healthy_percent=200,
        )
        self.execution.starts(
            self.service, stream_prefix=workload.service, container_name=workload.service
        )
        # Like the execution role's policies (see TaskExecutionRole.starts).
        self.service.node.add_dependency(self.task_role)
        declare_ecs_assumes(
            self.service, self.task_role, name=f"ECS ({workload.service}'s task role)"
        )
        rotating: list[ManagedSecret] = []
        for use in self.consumer.secrets:
            if use.secret.rotation_schedule is not None and use.secret not in rotating:
                rotating.append(use.secret)
        if rotating:
            self._restart_on_rotation(
                cluster, rotating, secrets_key=secrets_key, removal_policy=removal_policy
            )
        self.function = None
        if workload.function:
            name = workload.function.name
            role = reader_role(application, environment.name, name, "function")
            self.function = SecretReadingFunction(
                self,
                pascal_case(name),
                consumer=self._consumer_of(name, f"{pascal_case(name)}Secrets"),
                description=f"{name}: reads its secrets through the extension",
                vpc=network.vpc,
                vpc_subnets=network.isolated_subnets,
                vpc_cidr=environment.network.cidr,
                encryption_key=secrets_key.key,
                cache_ttl=cdk.Duration.seconds(workload.function.cache_ttl_seconds),
                role_name=role.name,
                role_path=role.path,
                removal_policy=removal_policy,
            )
        self.instance_role: iam.Role | None = None
        self.launch_template: ec2.LaunchTemplate | None = None
        if workload.instance:
            self.instance_role, self.launch_template = self._instance_consumer(
                application, workload.instance, network
            )

    def _restart_on_rotation(
        self,
        cluster: ecs.Cluster,
        secrets: Sequence[ManagedSecret],
        *,
        secrets_key: SecretsKey,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        """ECS gives a task its secrets when it starts, and a rotation replaces the value at once
        (single-user rotation changes the database password itself): when a rotation of one of
        `secrets` succeeds, start a new deployment of the service (a Step Functions call to
        ecs:UpdateService, no code), so no task keeps a replaced value and all tasks agree."""
        restart = sfn_tasks.CallAwsService(
            self,
            "ForceNewDeployment",
            service="ecs",
            action="updateService",
            parameters={
                "Cluster": cluster.cluster_arn,
                "Service": self.service.service_name,
                "ForceNewDeployment": True,
            },
            iam_resources=[self.service.service_arn],
        )
        # Confused deputy: Step Functions may assume the role only for this state machine, and
        # EventBridge the start role only for these rules (Step Functions developer guide,
        # "Creating an IAM role for your state machine"; EventBridge user guide, "Cross-service
        # confused deputy prevention": the rule's ARN). The trust policies need those ARNs, while
        # the machine and the rules name the roles: their names are fixed here, from the stack's
        # (unique per account and region), instead of generated after the roles exist. The rules
        # share one ARN pattern, their common prefix, as that guide allows for several
        # resources: a list of ARNs would outgrow a trust policy's 2,048 characters at about
        # twenty rules (200 rotating secrets).
        machine_name = f"{self.stack_name}-RestartOnRotation"
        role = iam.Role(
            self,
            "RestartOnRotationRole",
            assumed_by=iam.ServicePrincipal(
                "states.amazonaws.com",
                conditions=source_conditions(
                    self.account,
                    self.format_arn(
                        service="states",
                        resource="stateMachine",
                        resource_name=machine_name,
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    ),
                ),
            ),
            description="Starts a new deployment of the service; logs and traces its runs",
        )
        policy = iam.ManagedPolicy(
            self,
            "RestartOnRotationPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["ecs:UpdateService"], resources=[self.service.service_arn]
                ),
                iam.PolicyStatement(actions=list(LOG_DELIVERY_ACTIONS), resources=["*"]),
            ],
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Only CloudWatch Logs delivery and X-Ray actions, which have no resource to scope to; "
            "the one action on a resource, ecs:UpdateService, names the service.",
        )
        machine = sfn.StateMachine(
            self,
            "RestartOnRotation",
            state_machine_name=machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(restart),
            # Immutable for the CDK: its implicit grants would add an inline policy.
            role=role.without_policy_updates(),
            comment="New tasks for the service after a secret it reads rotates",
            logs=sfn.LogOptions(
                destination=encrypted_log_group(
                    self,
                    "RestartOnRotationLogs",
                    encryption_key=secrets_key.key,
                    removal_policy=removal_policy,
                ),
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
            tracing_enabled=True,
        )
        # Step Functions checks at creation that the role may deliver logs to the group.
        machine.node.add_dependency(policy)
        declare_runtime(
            machine,
            assumed_by(
                "states.amazonaws.com",
                role.role_arn,
                name="Step Functions (restart on rotation)",
                source_arn=machine.state_machine_arn,
                source_account=self.account,
            ),
        )
        declare_runtime(
            machine,
            Runtime(
                name="restart-on-rotation state machine",
                kind="role",
                principal=role.role_arn,
                calls=(
                    Call("ecs:UpdateService", self.service.service_arn, purpose="new tasks"),
                    *(
                        Call(action, "*", purpose="its logs and traces")
                        for action in LOG_DELIVERY_ACTIONS
                    ),
                ),
            ),
        )
        rules = self.format_arn(
            service="events", resource="rule", resource_name=self._rule_name("SecretsRotated*")
        )
        start_role = self._start_role(machine, rules)
        target = targets.SfnStateMachine(machine, role=start_role)
        # A few secrets per rule: EventBridge holds a pattern to 2,048 characters by default.
        for first in range(0, len(secrets), SECRETS_PER_RESTART_RULE):
            chunk = secrets[first : first + SECRETS_PER_RESTART_RULE]
            rule_id = "SecretsRotated" + (
                str(first // SECRETS_PER_RESTART_RULE + 1) if first else ""
            )
            rule = events.Rule(
                self,
                rule_id,
                rule_name=self._rule_name(rule_id),
                description="A secret the service reads rotated: restart its tasks",
                event_pattern=events.EventPattern(
                    source=["aws.secretsmanager"],
                    detail_type=["AWS Service Event via CloudTrail"],
                    detail={
                        "eventSource": ["secretsmanager.amazonaws.com"],
                        "eventName": ["RotationSucceeded"],
                        "additionalEventData": {
                            "SecretId": [secret.secret_arns()[0] for secret in chunk]
                        },
                    },
                ),
                targets=[target],
            )
            declare_runtime(
                rule,
                assumed_by(
                    "events.amazonaws.com",
                    start_role.role_arn,
                    name=f"EventBridge rule {rule_id}",
                    source_arn=rule.rule_arn,
                    source_account=self.account,
                ),
            )
            declare_runtime(
                rule,
                Runtime(
                    name=f"EventBridge rule {rule_id} starting the restart",
                    kind="role",
                    principal=start_role.role_arn,
                    calls=(
                        Call(
                            "states:StartExecution",
                            machine.state_machine_arn,
                            purpose="restart the service's tasks",
                        ),
                    ),
                ),
            )

    def _rule_name(self, rule_id: str) -> str:
        return f"{self.stack_name}-{rule_id}"

    def _start_role(self, machine: sfn.StateMachine, rules: str) -> iam.IRole:
        """EventBridge's role for the rules whose ARNs match `rules`: start executions of
        `machine`, nothing else."""
        role = iam.Role(
            self,
            "RestartOnRotationEventsRole",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com", conditions=source_conditions(self.account, rules)
            ),
            description="EventBridge: starts the restart-on-rotation state machine",
        )
        iam.ManagedPolicy(
            self,
            "RestartOnRotationEventsPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["states:StartExecution"], resources=[machine.state_machine_arn]
                )
            ],
        )
        return role.without_policy_updates()

    def _consumer_of(self, name: str, id_: str) -> SecretConsumer:
        """The secrets and parameters whose `consumers` list `name`, as env vars: a database or
        json secret gives one variable per field (`DB_CREDENTIALS_PASSWORD`)."""
        environment, secrets, trees = self._environment, self._secrets, self._parameters
        return SecretConsumer(
            self,
            id_,
            secrets=[
                SecretUse(
                    env_var(secret.purpose, field) if field else env_var(secret.purpose),
                    secrets[secret.purpose],
                    field=field,
                )
                for secret in environment.secrets
                if name in secret.consumers
                for field in (secrets[secret.purpose].fields or (None,))
            ],
            parameters=[
                ParameterUse(env_var(parameter.name), trees[parameter.name], parameter.name)
                for parameter in environment.parameters
                if name in parameter.consumers
            ],
        )

    def _instance_consumer(
        self, application: str, instance: InstanceConfig, network: NetworkStack
    ) -> tuple[iam.Role, ec2.LaunchTemplate]:
        """An instance profile whose role reads exactly the instance's secrets, and a launch
        template (IMDSv2 only, one hop, encrypted root volume, no public address) that hands
        it to every instance or Auto Scaling group launched from it."""
        identity = reader_role(application, self._environment.name, instance.name, "instance")
        role = iam.Role(
            self,
            f"{pascal_case(instance.name)}Role",
            role_name=identity.name,
            path=identity.path,
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"{instance.name} instances: read exactly their secrets, nothing else",
        )
        consumer = self._consumer_of(instance.name, f"{pascal_case(instance.name)}Secrets")
        consumer.attach_to(role)
        declare_runtime(
            role,
            assumed_by("ec2.amazonaws.com", role.role_arn, name=f"EC2 ({instance.name} instances)"),
        )
        declare_runtime(
            role,
            Runtime(
                name=f"{instance.name} instances (SDK calls with the instance profile)",
                kind="role",
                principal=role.role_arn,
                calls=consumer.declared_calls(
                    parameter_actions=["ssm:GetParameter", "ssm:GetParameters"]
                ),
            ),
        )
        group = ec2.SecurityGroup(
            self,
            f"{pascal_case(instance.name)}SecurityGroup",
            vpc=network.vpc,
            description=f"{instance.name}: HTTPS to the AWS endpoints in the VPC only",
            allow_all_outbound=False,
        )
        group.add_egress_rule(
            ec2.Peer.ipv4(self._environment.network.cidr),
            ec2.Port.tcp(443),
            "HTTPS to the VPC's AWS endpoints",
        )
        template = ec2.LaunchTemplate(
            self,
            f"{pascal_case(instance.name)}LaunchTemplate",
            instance_type=ec2.InstanceType(instance.instance_type),
            instance_profile=iam.InstanceProfile(
                self, f"{pascal_case(instance.name)}InstanceProfile", role=role
            ),
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            associate_public_ip_address=False,
            security_group=group,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        20, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        return role, template
