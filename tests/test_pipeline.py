"""The optional CDK Pipelines delivery: off by default; when on, waves, approval, regions."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from stacks.config import ConfigError, parse_config
from stacks.pipeline_stack import SYNTH_COMMANDS, bootstrap_commands
from strongbox.verify.permissions import verify_policy
from tests.conftest import ROOT, Synthesized, as_list, cdk_json_context, only, synthesize_all

PIPELINE_ACCOUNT = "555555555555"
PROD_NAMES = "prod/payments/"
CONNECTION = (
    "arn:aws:codeconnections:eu-west-1:555555555555:connection/8f3c1b7e-2d4a-4c59-9e61-0a7b5d2c4f18"
)


def _context(**pipeline: Any) -> dict[str, Any]:
    context = copy.deepcopy(cdk_json_context())
    context["strongbox"]["pipeline"].update({"enabled": True, **pipeline})
    return context


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """The shipped pipeline, and one whose first wave holds two accounts, in one interpreter."""
    shipped, waves = synthesize_all(
        [
            (_context(), tmp_path_factory.mktemp("pipeline.out")),
            (_context(waves=[["dev", "staging"], ["prod"]]), tmp_path_factory.mktemp("waves.out")),
        ]
    )
    return {"shipped": shipped, "waves": waves}


@pytest.fixture(scope="module")
def delivered(pipelines: dict[str, Synthesized]) -> Synthesized:
    return pipelines["shipped"]


def _pipeline(synthesized: Synthesized) -> dict[str, Any]:
    stack = synthesized.stack("Strongbox-Pipeline")
    (pipeline,) = stack.resources("AWS::CodePipeline::Pipeline").values()
    return dict(pipeline["Properties"])


def _actions(stage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {action["Name"]: action for action in stage["Actions"]}


def test_disabled_by_default_so_plain_cdk_deploy_is_unaffected(synthesized: Synthesized) -> None:
    assert cdk_json_context()["strongbox"]["pipeline"]["enabled"] is False
    assert not [name for name in synthesized.stacks if name.startswith("Strongbox-Pipeline")]


def test_enabled_pipeline_synthesizes_clean_with_the_same_stages(
    delivered: Synthesized, synthesized: Synthesized
) -> None:
    assert delivered.synth_error is None, delivered.synth_error
    assert delivered.findings() == []
    pipeline = delivered.stack("Strongbox-Pipeline")
    replication = delivered.stack("Strongbox-Pipeline-eu-central-1")
    assert (pipeline.account, pipeline.region) == (PIPELINE_ACCOUNT, "eu-west-1")
    assert (replication.account, replication.region) == (PIPELINE_ACCOUNT, "eu-central-1")
    # One composition: every stage stack is the one `cdk deploy` gets, template for template.
    stage_stacks = {
        name for name in delivered.stacks if not name.startswith(("Strongbox-Pipeline", "Verify-"))
    }
    assert stage_stacks == set(synthesized.stacks)
    for name in stage_stacks:
        assert delivered.stack(name).template == synthesized.stack(name).template, name


def test_stages_run_in_waves_with_prod_behind_an_approval(delivered: Synthesized) -> None:
    stages = _pipeline(delivered)["Stages"]
    assert [stage["Name"] for stage in stages] == [
        "Source",
        "Build",
        "UpdatePipeline",
        "Assets",
        # A wave holds the environment's stage and its verify role's (each action is named
        # after its stage), then strongbox verify.
        "Dev",
        "Staging",
        "Prod",
    ]
    approvals = {
        stage["Name"]: [
            a["Name"] for a in stage["Actions"] if a["ActionTypeId"]["Category"] == "Approval"
        ]
        for stage in stages
    }
    assert {name: names for name, names in approvals.items() if names} == {"Prod": ["Approve-prod"]}
    prod = _actions(stages[-1])
    first_deploy = min(a["RunOrder"] for n, a in prod.items() if n.endswith(".Deploy"))
    assert prod["Approve-prod"]["RunOrder"] < first_deploy


def test_replica_keys_deploy_in_their_region_before_the_secrets(delivered: Synthesized) -> None:
    prod = _actions(_pipeline(delivered)["Stages"][-1])
    replica = prod["Strongbox-Prod.ReplicaKeys-eu-central-1.Deploy"]
    assert replica["Region"] == "eu-central-1"
    assert replica["Configuration"]["StackName"] == "Strongbox-Prod-ReplicaKeys-eu-central-1"
    assert replica["RunOrder"] < prod["Strongbox-Prod.Secrets.Prepare"]["RunOrder"]
    assert prod["Strongbox-Prod.Keys.Deploy"]["RunOrder"] < replica["RunOrder"]


def test_each_environment_deploys_through_its_own_accounts_bootstrap_roles(
    delivered: Synthesized,
) -> None:
    for stage in _pipeline(delivered)["Stages"][4:]:
        account = {"Dev": "111111111111", "Staging": "222222222222"}.get(
            stage["Name"], "333333333333"
        )
        for name, action in _actions(stage).items():
            if action["ActionTypeId"]["Category"] != "Deploy":
                continue
            region = action.get("Region", "eu-west-1")
            role = json.dumps(action["RoleArn"])
            assert f"iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{region}" in role
            if name.endswith(".Prepare"):  # the change set is created with the execution role
                execution = json.dumps(action["Configuration"]["RoleArn"])
                assert f"cdk-hnb659fds-cfn-exec-role-{account}-{region}" in execution


def test_synth_step_runs_the_readme_commands(delivered: Synthesized) -> None:
    projects = delivered.stack("Strongbox-Pipeline").resources("AWS::CodeBuild::Project")
    (synth,) = [
        p for p in projects.values() if "make test" in p["Properties"]["Source"]["BuildSpec"]
    ]
    spec = json.loads(synth["Properties"]["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"] == list(SYNTH_COMMANDS)
    assert spec["artifacts"]["base-directory"] == "cdk.out"
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.splitlines()] == [
        "make synth",
        "make test",
    ]
    self_mutation = next(
        p
        for p in projects.values()
        if "deploy Strongbox-Pipeline" in p["Properties"]["Source"]["BuildSpec"]
    )
    cli = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert f"npm install -g aws-cdk@{cli}" in self_mutation["Properties"]["Source"]["BuildSpec"]


@pytest.mark.parametrize(
    ("wave", "environment", "account"),
    [("Dev", "dev", "111111111111"), ("Prod", "prod", "333333333333")],
)
def test_each_wave_ends_with_strongbox_verify_through_the_environments_read_only_role(
    delivered: Synthesized, wave: str, environment: str, account: str
) -> None:
    role_arn = f"arn:aws:iam::{account}:role/strongbox/payments/payments-{environment}-verify"
    stage = next(s for s in _pipeline(delivered)["Stages"] if s["Name"] == wave)
    actions = _actions(stage)
    verify = actions[f"Verify-{environment}"]
    deploys = [a["RunOrder"] for n, a in actions.items() if n.endswith(".Deploy")]
    pipeline = delivered.stack("Strongbox-Pipeline")
    project_id = verify["Configuration"]["ProjectName"]["Ref"]
    project = pipeline.template["Resources"][project_id]["Properties"]
    spec = json.loads(project["Source"]["BuildSpec"])
    project_role_id = project["ServiceRole"]["Fn::GetAtt"][0]
    project_role = pipeline.template["Resources"][project_role_id]["Properties"]
    grants = [
        statement
        for policy in pipeline.resources("AWS::IAM::Policy").values()
        if {"Ref": project_role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "sts:AssumeRole"
    ]

    # After every deploy of the wave, on the checkout with the synth's cdk.out beside it.
    assert verify["RunOrder"] > max(deploys)
    assert [artifact["Name"] for artifact in verify["InputArtifacts"]] == [
        "example_org_strongbox_Source",
        "Synth_Output",
    ]
    assert spec["phases"]["build"]["commands"][-2:] == [
        "make setup",
        f".venv/bin/strongbox verify --env {environment} --assembly cdk.out --role-arn {role_arn}",
    ]
    assert grants == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": role_arn}]
    # The name the environment's verify role trusts, and nothing else does.
    assert project_role["RoleName"] == f"payments-{environment}-verify-step"


def test_the_verify_role_holds_the_shipped_read_only_policy_and_trusts_the_verify_step_only(
    delivered: Synthesized,
) -> None:
    stack = delivered.stack("Verify-Strongbox-Prod/Role")
    (role,) = stack.resources("AWS::IAM::Role").values()
    ((policy_id, policy),) = stack.resources("AWS::IAM::ManagedPolicy").items()
    expected = verify_policy(
        partition="aws",
        account="333333333333",
        regions=["eu-west-1", "eu-central-1"],
        secret_prefix=PROD_NAMES,
        stack_prefix="Strongbox-Prod-",
    )

    assert (stack.account, stack.region) == ("333333333333", "eu-west-1")
    assert role["Properties"]["RoleName"] == "payments-prod-verify"
    assert role["Properties"]["Path"] == "/strongbox/payments/"
    assert role["Properties"]["ManagedPolicyArns"] == [{"Ref": policy_id}]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            # Only the role of the pipeline's verify step for prod.
            "Condition": {
                "StringEquals": {
                    "aws:PrincipalArn": "arn:aws:iam::555555555555:role/payments-prod-verify-step"
                }
            },
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::555555555555:root"},
        }
    ]
    # The shipped statements, as CDK writes them (each list sorted).
    assert [sorted_lists(s) for s in policy["Properties"]["PolicyDocument"]["Statement"]] == [
        sorted_lists(s) for s in expected
    ]
    actions = {a for s in expected for a in as_list(s["Action"])}
    assert "secretsmanager:GetSecretValue" not in actions
    assert not [
        a
        for a in actions
        if a.startswith("kms:")
        and a != "kms:ListAliases"
        and not a.startswith(("kms:Describe", "kms:Get", "kms:List"))
    ]


def sorted_lists(value: Any) -> Any:
    """`value` as CDK writes a policy: each list sorted, and a list of one its item."""
    if isinstance(value, dict):
        return {key: sorted_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted_lists(value[0]) if len(value) == 1 else sorted(map(json.dumps, value))
    return value


def test_artifacts_and_build_logs_are_encrypted_with_the_cmk(delivered: Synthesized) -> None:
    stack = delivered.stack("Strongbox-Pipeline")
    key_id, key = only(stack.resources("AWS::KMS::Key"))
    assert key["Properties"]["EnableKeyRotation"] is True
    stores = {
        store["Region"]: store["ArtifactStore"] for store in _pipeline(delivered)["ArtifactStores"]
    }
    assert stores["eu-west-1"]["EncryptionKey"] == {
        "Id": {"Fn::GetAtt": [key_id, "Arn"]},
        "Type": "KMS",
    }
    assert stores["eu-central-1"]["EncryptionKey"]["Id"] == (
        "arn:aws:kms:eu-central-1:555555555555:alias/payments/pipeline-replication"
    )
    assert stores["eu-central-1"]["Location"] == (
        "payments-pipeline-artifacts-555555555555-eu-central-1"
    )
    buckets = stack.resources("AWS::S3::Bucket")
    artifacts = buckets[stores["eu-west-1"]["Location"]["Ref"]]["Properties"]
    (rule,) = artifacts["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
        "SSEAlgorithm": "aws:kms",
    }
    assert artifacts["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LoggingConfiguration" in artifacts
    (group_id, group), *_ = stack.resources("AWS::Logs::LogGroup").items()
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert group["Properties"]["RetentionInDays"] == 365
    for project in stack.resources("AWS::CodeBuild::Project").values():
        properties = project["Properties"]
        assert properties["EncryptionKey"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert properties["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {"Ref": group_id}
    assert delivered.stack("Strongbox-Pipeline-eu-central-1").resources("AWS::S3::Bucket")


def test_pipeline_roles_read_no_secret_and_use_only_the_configured_connection(
    delivered: Synthesized,
) -> None:
    statements = [
        statement
        for name in ("Strongbox-Pipeline", "Strongbox-Pipeline-eu-central-1")
        for policy in (
            *delivered.stack(name).resources("AWS::IAM::Policy").values(),
            *delivered.stack(name).resources("AWS::IAM::ManagedPolicy").values(),
        )
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = [action for statement in statements for action in as_list(statement["Action"])]
    assert not [a for a in actions if a.startswith(("secretsmanager:", "ssm:"))]
    (connection,) = [s for s in statements if s["Action"] == "codestar-connections:UseConnection"]
    assert connection["Resource"] == CONNECTION


def test_one_wave_can_hold_several_accounts(pipelines: dict[str, Synthesized]) -> None:
    delivered = pipelines["waves"]
    assert delivered.synth_error is None, delivered.synth_error
    stages = _pipeline(delivered)["Stages"]
    assert [stage["Name"] for stage in stages][4:] == ["Dev-Staging", "Prod"]
    together = _actions(stages[4])
    assert {"Strongbox-Dev.Keys.Deploy", "Strongbox-Staging.Keys.Deploy"} <= set(together)
    roles = {json.dumps(a["RoleArn"]) for n, a in together.items() if n.endswith("Keys.Deploy")}
    assert len(roles) == 2 and all("deploy-role" in role for role in roles)


def test_bootstrap_commands_trust_the_pipeline_account_in_every_region() -> None:
    config = parse_config(_context()["strongbox"])
    commands = bootstrap_commands(config.pipeline, config.environments)
    trust = "--trust 555555555555 --trust-for-lookup none --cloudformation-execution-policies "
    assert commands == [
        "cdk bootstrap aws://555555555555/eu-west-1 "
        "--cloudformation-execution-policies arn:aws:iam::aws:policy/AdministratorAccess",
        f"cdk bootstrap aws://111111111111/eu-west-1 {trust}"
        "arn:aws:iam::111111111111:policy/strongbox-deploy",
        f"cdk bootstrap aws://222222222222/eu-west-1 {trust}"
        "arn:aws:iam::222222222222:policy/strongbox-deploy",
        f"cdk bootstrap aws://333333333333/eu-west-1 {trust}"
        "arn:aws:iam::333333333333:policy/strongbox-deploy",
        f"cdk bootstrap aws://333333333333/eu-central-1 {trust}"
        "arn:aws:iam::333333333333:policy/strongbox-deploy",
    ]
    readme = (ROOT / "docs" / "operations.md").read_text()
    for command in commands:
        assert command in readme, f"docs/operations.md does not document: {command}"


def _pipeline_error(**pipeline: Any) -> str:
    raw = _context(**pipeline)["strongbox"]
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    return str(error.value)


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (
            {"source": None},
            "pipeline.source: must be an object, got null",
        ),
        (
            {"waves": [["dev"], ["staging"], ["prod"], ["qa"]]},
            "pipeline.waves[3][0]: unknown environment 'qa'; configured: dev, staging, prod",
        ),
        (
            {"waves": [["dev", "staging"], ["staging", "prod"]]},
            "pipeline.waves[1][0]: 'staging' is already in an earlier wave",
        ),
        (
            {"waves": [["dev"], ["prod"]]},
            "pipeline.waves: leaves out staging; every environment deploys in one wave",
        ),
        (
            {"waves": [[]]},
            "pipeline.waves[0]: must list at least one entry",
        ),
        (
            {"approval_before": ["production"]},
            "pipeline.approval_before[0]: unknown environment 'production'; configured: "
            "dev, prod, staging",
        ),
        (
            {"account": "55555"},
            "pipeline.account: '55555' is not allowed; expected a 12-digit AWS account id",
        ),
        (
            {
                "source": {
                    "repository": "example-org/strongbox",
                    "branch": "main",
                    "connection_arn": "arn:aws:codeconnections:eu-west-1:555555555555:connection/x",
                }
            },
            "pipeline.source.connection_arn: "
            "'arn:aws:codeconnections:eu-west-1:555555555555:connection/x' is not allowed; "
            "expected a CodeConnections ARN, "
            "arn:aws:codeconnections:<region>:<account>:connection/<id>",
        ),
        (
            {"source": {"repository": "strongbox", "branch": "main", "connection_arn": CONNECTION}},
            "pipeline.source.repository: 'strongbox' is not allowed; "
            "expected owner/name of the connected repository",
        ),
        (
            {"source": {"repository": "strongbox", "branch": "../main"}},
            "pipeline.source.branch: '../main' is not allowed; expected a git branch name",
        ),
    ],
    ids=lambda value: str(value)[:40],
)
def test_bad_pipeline_config_names_the_key(pipeline: dict[str, Any], message: str) -> None:
    assert _pipeline_error(**pipeline) == message


def test_enabled_pipeline_needs_account_region_and_source() -> None:
    raw = copy.deepcopy(cdk_json_context()["strongbox"])
    raw["pipeline"] = {"enabled": True, "account": "555555555555", "region": "eu-west-1"}
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value) == "pipeline.source: is required when the pipeline is enabled"


def test_codecommit_source_is_accepted() -> None:
    config = parse_config(
        _context(source={"repository": "strongbox", "branch": "release/1.x"})["strongbox"]
    )
    assert config.pipeline.source is not None
    assert config.pipeline.source.is_codecommit
    assert config.pipeline.source.branch == "release/1.x"
