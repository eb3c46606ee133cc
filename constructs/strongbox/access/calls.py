"""Declared calls: what each runtime asks of AWS, in the shape IAM authorizes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# The construct metadata type that carries a runtime's declaration into the cloud assembly.
METADATA_TYPE = "strongbox:runtime"

# Who makes the calls:
#   role     an IAM role of the assembly; its identity policies are evaluated.
#   service  an AWS service principal (events.amazonaws.com); only resource policies apply.
#   outside  a principal whose identity policies are not in the assembly (CloudFormation's
#            execution role, another account's reader, the role AWS's rotation transform
#            creates); `modeled_statements`, when given, stand in for its identity policy.
CallerKind = Literal["role", "service", "outside"]


@dataclass(frozen=True)
class Call:
    """One request: `action` on `resource`, as IAM, the resource's policy, the key policy and
    the endpoint policy see it.

    Attributes:
        action: the IAM action, e.g. "secretsmanager:GetSecretValue".
        resource: the ARN the action is authorized against ("*" for actions without one).
        region: where the request goes. Default (None): the runtime's own region.
        endpoint: the interface or gateway endpoint service the request goes through
            ("secretsmanager", "s3"); None when it does not leave through a VPC endpoint.
        via: the service that makes this call on the caller's behalf (a forward access
            session: Secrets Manager calling KMS for GetSecretValue), which sets kms:ViaService.
        context: the other condition keys the request carries, e.g.
            {"kms:EncryptionContext:SecretARN": arn, "secretsmanager:VersionStage": "AWSCURRENT"}.
        purpose: why the runtime makes it, in a few words.
    """

    action: str
    resource: Any
    region: Any = None
    endpoint: str | None = None
    via: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    purpose: str = ""

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action, "resource": self.resource}
        for name in ("region", "endpoint", "via", "purpose"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        if self.context:
            data["context"] = dict(self.context)
        return data

    @staticmethod
    def from_data(data: Mapping[str, Any]) -> Call:
        return Call(
            action=str(data["action"]),
            resource=data["resource"],
            region=data.get("region"),
            endpoint=data.get("endpoint"),
            via=data.get("via"),
            context=dict(data.get("context") or {}),
            purpose=str(data.get("purpose", "")),
        )


@dataclass(frozen=True)
class Runtime:
    """A piece of code or an AWS service that calls AWS at run time, and every call it makes.

    Attributes:
        name: what it is, e.g. "rotation function TokenRotation".
        kind: "role", "service" or "outside" (see CallerKind).
        principal: the role ARN, the service principal, or the outside principal's ARN.
        calls: the requests it makes.
        source: for a service, the aws:SourceArn / aws:SourceAccount it sends.
        modeled_statements: for an outside principal, the identity policy AWS documents for it.
        model: where `modeled_statements` come from (a documentation page).
    """

    name: str
    kind: CallerKind
    principal: Any
    calls: tuple[Call, ...]
    source: Mapping[str, Any] = field(default_factory=dict)
    modeled_statements: tuple[Mapping[str, Any], ...] = ()
    model: str = ""

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "principal": self.principal,
            "calls": [call.as_data() for call in self.calls],
        }
        if self.source:
            data["source"] = dict(self.source)
        if self.modeled_statements:
            data["modeledStatements"] = [dict(s) for s in self.modeled_statements]
            data["model"] = self.model
        return data

    @staticmethod
    def from_data(data: Mapping[str, Any]) -> Runtime:
        kind = data.get("kind")
        if kind not in ("role", "service", "outside"):
            raise ValueError(f"runtime {data.get('name')!r}: unknown kind {kind!r}")
        return Runtime(
            name=str(data["name"]),
            kind=kind,
            principal=data["principal"],
            calls=tuple(Call.from_data(call) for call in data.get("calls", [])),
            source=dict(data.get("source") or {}),
            modeled_statements=tuple(data.get("modeledStatements") or ()),
            model=str(data.get("model", "")),
        )


# Secrets Manager's encryption context for every secret version (its user guide, "Secret
# encryption and decryption"): the secret's ARN and the version's id.
SECRET_CONTEXT = "kms:EncryptionContext:SecretARN"  # noqa: S105 - a condition key
# Parameter Store's for a SecureString (its user guide, "Using the encryption context").
PARAMETER_CONTEXT = "kms:EncryptionContext:PARAMETER_ARN"


def secret_read(
    secret_arn: Any,
    key_arn: Any,
    *,
    endpoint: str | None,
    version_stage: str | None = None,
    purpose: str = "read the secret's value",
) -> tuple[Call, ...]:
    """GetSecretValue, and the kms:Decrypt Secrets Manager makes with the caller's credentials."""
    context = {"secretsmanager:VersionStage": version_stage} if version_stage else {}
    return (
        Call(
            "secretsmanager:GetSecretValue",
            secret_arn,
            endpoint=endpoint,
            context=context,
            purpose=purpose,
        ),
        Call(
            "kms:Decrypt",
            key_arn,
            via="secretsmanager",
            context={SECRET_CONTEXT: secret_arn},
            purpose=f"{purpose} (decrypted by Secrets Manager)",
        ),
    )


def parameter_read(
    parameter_arn: Any,
    key_arn: Any | None,
    *,
    endpoint: str | None,
    action: str,
    purpose: str = "read the parameter",
) -> tuple[Call, ...]:
    """GetParameter(s); for a SecureString, the kms:Decrypt Parameter Store makes."""
    calls = [Call(action, parameter_arn, endpoint=endpoint, purpose=purpose)]
    if key_arn is not None:
        calls.append(
            Call(
                "kms:Decrypt",
                key_arn,
                via="ssm",
                context={PARAMETER_CONTEXT: parameter_arn},
                purpose=f"{purpose} (decrypted by Parameter Store)",
            )
        )
    return tuple(calls)


def handler_calls(
    declared: Mapping[str, str],
    resources: Mapping[str, Any],
    *,
    endpoints: bool,
    purpose: str,
) -> tuple[Call, ...]:
    """A handler's declared calls (action -> what it acts on) on concrete resources: each
    role in `resources` gets its ARN, "*" stays "*"; roles not given are left out. With
    `endpoints`, each call goes through its service's interface endpoint (private DNS)."""
    calls = []
    for action, what in declared.items():
        if what != "*" and what not in resources:
            continue
        service = action.split(":", 1)[0]
        calls.append(
            Call(
                action,
                "*" if what == "*" else resources[what],
                endpoint=service if endpoints else None,
                purpose=purpose,
            )
        )
    return tuple(calls)


def assumed_by(
    service: str,
    role_arn: Any,
    *,
    name: str,
    source_arn: Any = None,
    source_account: Any = None,
) -> Runtime:
    """`service` assuming the role: sts:AssumeRole, decided by the role's trust policy, with
    the aws:SourceArn and aws:SourceAccount the service sends (None: it sends that key not)."""
    source = {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account}
    return Runtime(
        name=name,
        kind="service",
        principal=service,
        calls=(Call("sts:AssumeRole", role_arn, purpose="its credentials"),),
        source={key: value for key, value in source.items() if value is not None},
    )
