"""Network stack: the environment's VPC (new or existing) and its private AWS endpoints."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms

from constructs import Construct
from stacks.config import EnvironmentConfig
from strongbox import PrivateEndpoints, acknowledge
from strongbox.fixed_zones import FixedZonesStack
from strongbox.log_groups import encrypted_log_group, flow_log_destination


class NetworkStack(FixedZonesStack):
    """A VPC with only isolated subnets (no internet path), flow logs to a CMK-encrypted log
    group, a closed default security group, and `PrivateEndpoints`. With `network.create_vpc`
    false, an existing VPC given by ids in config (no lookups) gets the flow logs and endpoints.

    Attributes:
        vpc: the VPC.
        isolated_subnets: where Strongbox's functions and workloads run.
        endpoints: the `PrivateEndpoints`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        encryption_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, availability_zones=environment.availability_zones, **kwargs)
        network = environment.network
        flow_log_group = encrypted_log_group(
            self, "FlowLogs", encryption_key=encryption_key, removal_policy=removal_policy
        )
        flow_logs = flow_log_destination(self, flow_log_group)
        if network.create_vpc:
            self.vpc: ec2.IVpc = ec2.Vpc(
                self,
                "Vpc",
                ip_addresses=ec2.IpAddresses.cidr(network.cidr),
                availability_zones=list(environment.availability_zones),  # no AZ lookup
                nat_gateways=0,
                subnet_configuration=[
                    ec2.SubnetConfiguration(
                        name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                    )
                ],
                restrict_default_security_group=True,  # a CDK custom resource closes it
                flow_logs={
                    "All": ec2.FlowLogOptions(
                        destination=flow_logs, traffic_type=ec2.FlowLogTrafficType.ALL
                    )
                },
            )
            acknowledge(
                self.vpc,
                "W3010",
                "Availability zones come from config on purpose: synth does no lookups, so it "
                "stays hermetic and reproducible; config is validated to name zones of the region.",
            )
        else:
            assert network.vpc_id is not None  # parse_config requires it with create_vpc false
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=network.vpc_id,
                vpc_cidr_block=network.cidr,
                availability_zones=list(environment.availability_zones),
                isolated_subnet_ids=list(network.subnet_ids),
                isolated_subnet_route_table_ids=list(network.route_table_ids),
            )
            ec2.FlowLog(
                self,
                "FlowLog",
                resource_type=ec2.FlowLogResourceType.from_vpc(self.vpc),
                destination=flow_logs,
                traffic_type=ec2.FlowLogTrafficType.ALL,
            )
        self.isolated_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.endpoints = PrivateEndpoints(
            self,
            "Endpoints",
            vpc=self.vpc,
            subnets=self.isolated_subnets,
            vpc_cidr=network.cidr,
            account=environment.account,
            secret_name_prefix=f"{environment.name}/{application}/",
            parameter_path=f"/{application}/{environment.name}/",
            services=network.endpoints,
        )
