"""ParameterTree: an environment's Parameter Store hierarchy, SecureString included."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm

from constructs import Construct
from strongbox.access.calls import PARAMETER_CONTEXT, Call, Runtime, handler_calls, secret_read
from strongbox.access.declare import declare_runtime
from strongbox.compliance import acknowledge
from strongbox.credentials import credential_reason
from strongbox.keys import KeyLike, as_key, names_from_key
from strongbox.naming import pascal_case
from strongbox.parameters.calls import CALLS as PROVIDER_CALLS
from strongbox.private_function import PrivateFunction, bundled_code
from strongbox.secrets import (
    MAX_LENGTH,
    MIN_LENGTH,
    Generation,
    ManagedSecret,
    deploy_role_arn_of,
)
from strongbox.signature import shows_init_signature

PROVIDER_DIRECTORY = Path(__file__).parent / "parameters"
PROVIDER_SERVICE_TIMEOUT = cdk.Duration.minutes(20)
TIERS = ("Standard", "Advanced")
MAX_NAME_LENGTH = 1011
MAX_DEPTH = 15
MAX_STANDARD_VALUE, MAX_ADVANCED_VALUE = 4096, 8192
_NAME = re.compile(r"^[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*$")
SECRET_REFERENCE_PREFIX = "/aws/reference/secretsmanager/"  # noqa: S105 - a path


@shows_init_signature
class ParameterTree(Construct):
    """Parameters under `/<application>/<environment>/`: String and StringList written by
    CloudFormation, SecureString written by a custom resource whose value is generated in its
    Lambda (or copied from a secret) and encrypted with the environment's key, so the value is
    never in a template, a CloudFormation event or a log.

    The tier is Advanced when a value is over 4 KB or a parameter has policies, Standard
    otherwise. A String or StringList that looks like a credential is refused.

    Attributes:
        path: the hierarchy's root, e.g. "/payments/prod/".
        encryption_key: the key of its SecureStrings.
        parameters: name (below `path`) -> the CloudFormation resource.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        encryption_key: KeyLike,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        vpc_cidr: str,
        application: str | None = None,
        environment_name: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        Args:
            encryption_key: a `SecretsKey` or another customer-managed key; encrypts
                SecureStrings and the provider's logs.
            application, environment_name: the hierarchy's first two levels. Default: the
                `SecretsKey`'s; required with any other key.
            vpc, vpc_subnets, vpc_cidr: where the SecureString provider Lambda runs (it reaches
                SSM, Secrets Manager and CloudFormation's response bucket through endpoints).
            removal_policy: for SecureStrings (deleted or kept with the stack). Default: RETAIN.
        """
        super().__init__(scope, id_)
        application, environment_name = names_from_key(
            self, encryption_key, application, environment_name
        )
        self.path = f"/{application}/{environment_name}/"
        self.parameters: dict[str, cdk.CfnResource] = {}
        self.encryption_key = as_key(encryption_key)
        self._network = (vpc, vpc_subnets, vpc_cidr)
        self._removal_policy = removal_policy
        self._secure_strings: set[str] = set()
        self._provider: PrivateFunction | None = None
        self._secure_string_arns: list[str] = []

    def add_string(
        self,
        name: str,
        value: str,
        *,
        description: str = "",
        tier: str | None = None,
        policies: Sequence[Mapping[str, Any]] = (),
    ) -> ssm.CfnParameter:
        """A plaintext String parameter; refused if it looks like a credential."""
        return self._add_plain(name, "String", value, description, tier, policies)

    def add_string_list(
        self,
        name: str,
        values: Sequence[str],
        *,
        description: str = "",
        tier: str | None = None,
        policies: Sequence[Mapping[str, Any]] = (),
    ) -> ssm.CfnParameter:
        """A StringList parameter (items may not contain commas)."""
        if not values or any(not item.strip() or "," in item for item in values):
            raise ValueError(f"{name}: a StringList needs non-empty items without commas")
        return self._add_plain(name, "StringList", ",".join(values), description, tier, policies)

    def add_secure_string(
        self,
        name: str,
        *,
        generation: Generation | None = None,
        copy_from: ManagedSecret | None = None,
        field: str | None = None,
        description: str = "",
        tier: str = "Standard",
    ) -> cdk.CustomResource:
        """A SecureString whose value is generated with `generation` or copied from `copy_from`
        (its `field` for JSON secrets) at deploy time. A copy does not follow the secret's
        rotation: prefer `secret_reference_name` for consumers that can read a reference."""
        full_name = self._new_name(name)
        if (generation is None) == (copy_from is None):
            raise ValueError(f"{name}: give exactly one of generation or copy_from")
        if tier not in TIERS:
            raise ValueError(f"{name}: tier must be one of {', '.join(TIERS)}, got {tier!r}")
        provider = self._secure_string_provider()
        self._secure_string_arns.append(self.parameter_arn(full_name))
        # Exactly this parameter: the provider writes, reads (to re-encrypt) and deletes it, and
        # tags it with its owner so a retried or rolled-back Create adopts only its own parameter.
        provider.policy.add_statements(
            iam.PolicyStatement(
                actions=[
                    "ssm:AddTagsToResource",
                    "ssm:DeleteParameter",
                    "ssm:GetParameter",
                    "ssm:ListTagsForResource",
                    "ssm:PutParameter",
                ],
                resources=[self.parameter_arn(full_name)],
            )
        )
        source: dict[str, Any]
        if generation is not None:
            length = generation.length or 40
            if not MIN_LENGTH <= length <= MAX_LENGTH:
                raise ValueError(f"{name}: generation.length must be {MIN_LENGTH}-{MAX_LENGTH}")
            source = {
                "Generate": {
                    "Length": str(length),
                    "ExcludeCharacters": generation.exclude_characters or "",
                    "ExcludePunctuation": str(bool(generation.exclude_punctuation)).lower(),
                }
            }
        else:
            assert copy_from is not None
            # The provider reads the secret in its own region only.
            provider.policy.add_statements(
                *copy_from.read_statements(field=field, primary_only=True)
            )
            source = {
                "CopyFrom": {
                    "SecretId": copy_from.secret.secret_arn,
                    **({"Field": field} if field else {}),
                }
            }
        parameter = cdk.CustomResource(
            self,
            pascal_case(name),
            service_token=provider.function.function_arn,
            resource_type="Custom::SecureStringParameter",
            properties={
                "ParameterName": full_name,
                "KeyId": self.encryption_key.key_arn,
                "Tier": tier,
                **({"Description": description} if description else {}),
                **source,
            },
            removal_policy=self._removal_policy,
            # Not CloudFormation's default hour: the provider answers within a minute, and Lambda
            # retries a failed invocation twice (5 minutes each at most, 3 minutes apart).
            service_timeout=PROVIDER_SERVICE_TIMEOUT,
        )
        # The provider's permissions must exist before CloudFormation asks it for the value.
        parameter.node.add_dependency(provider.policy)
        self._declare_provider_calls(provider, parameter, full_name, tier, generation, copy_from)
        self._secure_strings.add(name)
        self.parameters[name] = parameter.node.default_child  # type: ignore[assignment]
        return parameter

    def _declare_provider_calls(
        self,
        provider: PrivateFunction,
        parameter: cdk.CustomResource,
        full_name: str,
        tier: str,
        generation: Generation | None,
        copy_from: ManagedSecret | None,
    ) -> None:
        """What creating, updating and deleting one SecureString asks of AWS: the provider's
        calls through the VPC's endpoints (Parameter Store encrypts a Standard value with
        kms:Encrypt and an Advanced one with a data key), CloudFormation invoking it, and its
        answer to CloudFormation's pre-signed S3 URL through the S3 gateway."""
        stack = cdk.Stack.of(self)
        arn = self.parameter_arn(full_name)
        purpose = f"SecureString {full_name}"
        resources: dict[str, Any] = {"parameter": arn}
        calls: list[Call] = []
        if copy_from is not None:
            resources["source"] = copy_from.secret.secret_arn
            calls += secret_read(
                copy_from.secret.secret_arn,
                copy_from.keys[0].key_arn,
                endpoint="secretsmanager",
                purpose=f"copy {copy_from.secret_name} into {full_name}",
            )[1:]
        declared = {
            action: what
            for action, what in PROVIDER_CALLS.items()
            if not (action == "secretsmanager:GetRandomPassword" and generation is None)
        }
        context = {PARAMETER_CONTEXT: arn}
        key = self.encryption_key.key_arn
        calls[:0] = handler_calls(declared, resources, endpoints=True, purpose=purpose)
        calls += [
            Call(
                "kms:Encrypt" if tier == "Standard" else "kms:GenerateDataKey",
                key,
                via="ssm",
                context=context,
                purpose=f"{purpose}: encrypt the value",
            ),
            Call(
                "kms:Decrypt",
                key,
                via="ssm",
                context=context,
                purpose=f"{purpose}: read the value to re-encrypt it",
            ),
        ]
        declare_runtime(
            provider,
            Runtime("SecureString provider", "role", provider.role.role_arn, tuple(calls)),
        )
        region = stack.region
        if cdk.Token.is_unresolved(region):
            return  # the response bucket's name is the region's; unknown in an agnostic stack
        declare_runtime(
            parameter,
            Runtime(
                name=f"CloudFormation asking for {full_name}",
                kind="outside",
                principal=deploy_role_arn_of(stack),
                calls=(
                    Call("lambda:InvokeFunction", provider.function.function_arn, purpose=purpose),
                ),
            ),
        )
        declare_runtime(
            provider,
            Runtime(
                # The URL is signed by CloudFormation, so S3 sees CloudFormation's principal.
                name="SecureString provider answering CloudFormation",
                kind="outside",
                principal="arn:aws:iam::aws-owned:role/cloudformation-response-url",
                calls=(
                    Call(
                        "s3:PutObject",
                        f"arn:{stack.partition}:s3:::cloudformation-custom-resource-response-"
                        f"{region.replace('-', '')}/{stack.account}/response",
                        endpoint="s3",
                        purpose=f"{purpose}: the answer",
                    ),
                ),
            ),
        )

    def is_secure_string(self, name: str) -> bool:
        """Whether parameter `name` (below `path`) is a SecureString; refuses an unknown name."""
        if name not in self.parameters:
            raise ValueError(f"{name!r} is not a parameter of {self.path}")
        return name in self._secure_strings

    def parameter_arn(self, name: str) -> str:
        """The ARN of parameter `name` (below `path`), for IAM policies."""
        stack = cdk.Stack.of(self)
        return (
            f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:parameter"
            f"{self._full_name(name) if not name.startswith('/') else name}"
        )

    @staticmethod
    def secret_reference_name(secret: ManagedSecret) -> str:
        """The parameter name that reads `secret` through Parameter Store (GetParameter with
        decryption); the reader needs `secret.grant_read` as well."""
        return SECRET_REFERENCE_PREFIX + secret.secret_name

    def read_statements(self, names: Sequence[str] | None = None) -> list[iam.PolicyStatement]:
        """Read exactly `names` (below `path`), or the whole tree when None; kms:Decrypt through
        SSM when any SecureString is included."""
        stack = cdk.Stack.of(self)
        if names is None:
            resources = [
                self.parameter_arn(self.path.rstrip("/")),
                self.parameter_arn(f"{self.path}*"),
            ]
            actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
            encrypted = bool(self._secure_strings)
        else:
            unknown = [n for n in names if n not in self.parameters]
            if unknown:
                raise ValueError(f"not parameters of {self.path}: {', '.join(unknown)}")
            resources = [self.parameter_arn(n) for n in names]
            actions = ["ssm:GetParameter", "ssm:GetParameters"]
            encrypted = bool(self._secure_strings & set(names))
        statements = [iam.PolicyStatement(actions=actions, resources=resources)]
        if encrypted:
            statements.append(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[self.encryption_key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"ssm.{stack.region}.amazonaws.com"}
                    },
                )
            )
        return statements

    def grant_read(self, grantee: iam.IGrantable, names: Sequence[str] | None = None) -> None:
        """Add `read_statements(names)` to `grantee`'s identity policy."""
        for statement in self.read_statements(names):
            grantee.grant_principal.add_to_principal_policy(statement)

    def _add_plain(
        self,
        name: str,
        kind: str,
        value: str,
        description: str,
        tier: str | None,
        policies: Sequence[Mapping[str, Any]],
    ) -> ssm.CfnParameter:
        full_name = self._new_name(name)
        reason = credential_reason(name, value)
        if reason:
            raise ValueError(f"{name}: {reason}; use add_secure_string or a ManagedSecret")
        size = len(value.encode())
        needed = "Advanced" if policies or size > MAX_STANDARD_VALUE else "Standard"
        tier = tier or needed
        if tier not in TIERS or (tier == "Standard" and needed == "Advanced"):
            raise ValueError(f"{name}: tier must be Advanced (value over 4 KB or policies set)")
        if size > MAX_ADVANCED_VALUE:
            raise ValueError(f"{name}: {size} bytes is over the 8 KB limit")
        parameter = ssm.CfnParameter(
            self,
            pascal_case(name),
            name=full_name,
            type=kind,
            value=value,
            tier=tier,
            description=description or None,
            policies=json.dumps(list(policies)) if policies else None,
        )
        self.parameters[name] = parameter
        return parameter

    def _new_name(self, name: str) -> str:
        if name in self.parameters:
            raise ValueError(f"{name!r} is already a parameter of {self.path}")
        return self._full_name(name)

    def _full_name(self, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"{name!r}: a parameter name is path segments of [a-zA-Z0-9_.-]")
        full_name = self.path + name
        if len(full_name) > MAX_NAME_LENGTH or full_name.count("/") > MAX_DEPTH:
            raise ValueError(
                f"{full_name}: over {MAX_NAME_LENGTH} characters or {MAX_DEPTH} levels"
            )
        return full_name

    def _secure_string_provider(self) -> PrivateFunction:
        if self._provider is not None:
            return self._provider
        vpc, vpc_subnets, vpc_cidr = self._network
        stack = cdk.Stack.of(self)
        provider = PrivateFunction(
            self,
            "SecureStringProvider",
            description="Strongbox SecureString parameters",
            code=bundled_code(PROVIDER_DIRECTORY),
            environment={
                "SSM_ENDPOINT": f"https://ssm.{stack.region}.{stack.url_suffix}",
                "SECRETS_MANAGER_ENDPOINT": f"https://secretsmanager.{stack.region}.{stack.url_suffix}",
            },
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            vpc_cidr=vpc_cidr,
            encryption_key=self.encryption_key,
            unscoped_actions=["secretsmanager:GetRandomPassword"],
            unscoped_reason="secretsmanager:GetRandomPassword, which has no resource",
            # Longer than the handler's client retries, so CloudFormation always gets an answer.
            timeout=cdk.Duration.minutes(5),
            removal_policy=self._removal_policy,
        )
        # The answer to CloudFormation goes to a pre-signed S3 URL through the S3 gateway
        # endpoint, whose addresses are a managed prefix list that synth cannot look up. The
        # subnets have no internet or NAT gateway, so HTTPS to anywhere reaches only the VPC's
        # endpoints and S3's gateway route.
        provider.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: CloudFormation's response URL on S3"
        )
        provider.policy.add_statements(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=[self.encryption_key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"ssm.{stack.region}.amazonaws.com"}
                },
            ),
        )
        # A KeyId change rewrites the value: GetParameter decrypts it under the key it was
        # written with, and CloudFormation updates this policy (now naming only the new key)
        # before the parameter. So the provider may decrypt under any key of this account and
        # region, but only through Parameter Store and only a value whose encryption context
        # (PARAMETER_ARN, which Parameter Store sets to the parameter's ARN) is a SecureString
        # of this tree: no direct kms:Decrypt, no other parameter, no other account's key.
        any_key = f"arn:{stack.partition}:kms:{stack.region}:{stack.account}:key/*"
        provider.policy.add_statements(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[any_key],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"ssm.{stack.region}.amazonaws.com",
                        PARAMETER_CONTEXT: cdk.Lazy.list(_Listed(self._secure_string_arns)),
                    }
                },
            ),
        )
        acknowledge(
            provider.policy,
            "AwsSolutions-IAM5[Resource::"
            f"arn:{_nag_text(stack.partition, '<AWS::Partition>')}:kms:"
            f"{_nag_text(stack.region, '<AWS::Region>')}:"
            f"{_nag_text(stack.account, '<AWS::AccountId>')}:key/*]",
            "Reading a SecureString's value under the key it was written with, which may be one "
            "this tree no longer names (a KeyId change); only through SSM and only for the "
            "encryption context of this tree's own SecureStrings.",
        )
        self._provider = provider
        return provider


@jsii.implements(cdk.IStableListProducer)
class _Listed:
    """The items of a list as they are when the template is written (a Lazy list)."""

    def __init__(self, items: list[str]) -> None:
        self._items = items

    def produce(self) -> list[str] | None:
        return list(self._items)


def _nag_text(value: str, placeholder: str) -> str:
    """How cdk-nag names `value` in a finding id: a pseudo parameter by placeholder."""
    return placeholder if cdk.Token.is_unresolved(value) else value
