"""PrivateEndpoints: the AWS endpoints a workload in isolated subnets needs, with policies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from constructs import Construct
from strongbox.naming import pascal_case
from strongbox.signature import shows_init_signature

INTERFACE_SERVICES: Mapping[str, ec2.InterfaceVpcEndpointAwsService] = {
    "secretsmanager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "ecr.api": ec2.InterfaceVpcEndpointAwsService.ECR,
    "ecr.dkr": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}
# What runs in the VPC calls on the parameter path: readers (GetParameter, GetParameters,
# GetParametersByPath) and the SecureString provider (PutParameter, with Tags on create, which is
# also authorized as AddTagsToResource; ListTagsForResource to recognise its own parameter;
# GetParameter to keep a value; DeleteParameter). Both tagging actions authorize against the
# parameter ARN (Service Authorization Reference, Systems Manager). The KMS calls behind a
# SecureString are SSM's own, made from the service, so they never pass through this VPC's kms
# endpoint.
PARAMETER_ACTIONS = (
    "ssm:AddTagsToResource",
    "ssm:DeleteParameter",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ssm:ListTagsForResource",
    "ssm:PutParameter",
)
KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*")


@shows_init_signature
class PrivateEndpoints(Construct):
    """Interface endpoints (private DNS on) for the chosen services plus the S3 gateway, behind
    one security group that admits HTTPS from the VPC's CIDR only, each with a policy:

    - every endpoint: only principals of `account` (`aws:PrincipalAccount`);
    - secretsmanager: only secrets named `secret_name_prefix*` (and GetRandomPassword);
    - ssm: only parameters under `parameter_path` and `/aws/reference/secretsmanager/...`;
    - kms: only cryptographic use of `account`'s keys;
    - S3 gateway: reading ECR's image layers and writing the responses custom resources send to
      CloudFormation; both URLs are pre-signed by the service (ECR, CloudFormation), so neither
      statement can have an account condition.

    Attributes:
        security_group: the endpoints' security group.
        interface_endpoints: service name -> `ec2.InterfaceVpcEndpoint`.
        s3_gateway: the `ec2.GatewayVpcEndpoint`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        vpc_cidr: str,
        account: str,
        secret_name_prefix: str,
        parameter_path: str,
        services: Sequence[str] = tuple(INTERFACE_SERVICES),
    ) -> None:
        """
        Args:
            vpc, subnets: where the endpoints' network interfaces go (isolated subnets).
            vpc_cidr: the CIDR allowed to reach them on 443 (a literal, so rules are checkable).
            account: the only account whose principals may use them.
            secret_name_prefix: e.g. "prod/payments/".
            parameter_path: e.g. "/payments/prod/".
            services: which interface endpoints. Default: all six.
        """
        super().__init__(scope, id_)
        unknown = set(services) - set(INTERFACE_SERVICES)
        if unknown:
            raise ValueError(
                f"services: {', '.join(sorted(unknown))} not supported; choose from "
                f"{', '.join(INTERFACE_SERVICES)}"
            )
        stack = cdk.Stack.of(self)
        self._account = account
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="HTTPS from inside the VPC to its AWS service endpoints",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(
            ec2.Peer.ipv4(vpc_cidr), ec2.Port.tcp(443), "HTTPS from the VPC"
        )
        arn = f"arn:{stack.partition}"
        scoped: Mapping[str, list[iam.PolicyStatement]] = {
            "secretsmanager": [
                self._allow(
                    ["secretsmanager:*"],
                    [f"{arn}:secretsmanager:{stack.region}:{account}:secret:{secret_name_prefix}*"],
                ),
                self._allow(["secretsmanager:GetRandomPassword"], ["*"]),
            ],
            "ssm": [
                self._allow(
                    list(PARAMETER_ACTIONS),
                    [f"{arn}:ssm:{stack.region}:{account}:parameter{parameter_path}*"],
                ),
                # Secrets read as parameters (/aws/reference/secretsmanager/<name>).
                self._allow(
                    ["ssm:GetParameter", "ssm:GetParameters"],
                    [
                        f"{arn}:ssm:{stack.region}:{account}:parameter/aws/reference/"
                        f"secretsmanager/{secret_name_prefix}*"
                    ],
                ),
            ],
            "kms": [self._allow(list(KEY_ACTIONS), [f"{arn}:kms:{stack.region}:{account}:key/*"])],
        }
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        for service in services:
            endpoint = vpc.add_interface_endpoint(
                pascal_case(service) + "Endpoint",
                service=INTERFACE_SERVICES[service],
                private_dns_enabled=True,
                subnets=subnets,
                security_groups=[self.security_group],
                open=False,  # the group's own rule admits the VPC CIDR, as a literal
            )
            prefix = service.split(".")[0]
            for statement in scoped.get(service, [self._allow([f"{prefix}:*"], ["*"])]):
                endpoint.add_to_policy(statement)
            self.interface_endpoints[service] = endpoint

        self.s3_gateway = vpc.add_gateway_endpoint(
            "S3Gateway", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[subnets]
        )
        # ECR hands the client a URL for each image layer that ECR itself pre-signs, so the S3
        # request is made with ECR's credentials: an account condition here would refuse every
        # image pull. The bucket is ECR's, and only reading its objects is allowed.
        self.s3_gateway.add_to_policy(
            iam.PolicyStatement(
                sid="EcrImageLayers",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[f"{arn}:s3:::prod-{stack.region}-starport-layer-bucket/*"],
            )
        )
        self.s3_gateway.add_to_policy(
            iam.PolicyStatement(
                sid="CustomResourceResponses",
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[f"{arn}:s3:::cloudformation-custom-resource-response-*/*"],
            )
        )

    def _allow(self, actions: list[str], resources: list[str]) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            principals=[iam.AnyPrincipal()],
            actions=actions,
            resources=resources,
            conditions={"StringEquals": {"aws:PrincipalAccount": self._account}},
        )
