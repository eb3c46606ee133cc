"""detect-secrets, with all its plugins, over every file git tracks and over the synthesized
cloud assembly: nothing is found in the repository that `.secrets.baseline` does not list as an
audited, documented false positive, and nothing at all is found in cdk.out.

The same `.secrets.baseline` configures the pre-commit hook (.pre-commit-config.yaml), so the hook
and these tests scan with the same plugins and filters: every plugin, detect-secrets' default
filters, minus one, plus two. Minus the CLI's verification filter (hence --no-verify wherever the
CLI runs): it sends what it finds to the issuer (an AWS key to STS, ...) and drops what the issuer
rejects, so a scan would leak candidates off the machine and depend on the network. Plus the
regex filters in SECRET_PATTERNS and LINE_PATTERNS below. They exist for cdk.out, where no
baseline is allowed: without them its raw scan reports ~300 findings, all of them names CDK
generates (logical ids, construct paths, asset hashes) or keyword hits on text that is not a value
(cdk-nag acknowledgment reasons, the Lambda extension's settings). Each pattern matches only such
a name or line; the planted-secret tests below show that real-looking secrets still get through.

After an audited change (a new fake value in a test, say), refresh the baseline and mark each new
entry as a false positive (`"is_secret": false`, what `detect-secrets audit` writes), then add its
file and type with the reason to DOCUMENTED_FALSE_POSITIVES:

    .venv/bin/detect-secrets scan --no-verify --baseline .secrets.baseline
    .venv/bin/detect-secrets audit .secrets.baseline
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import default_settings, transient_settings

from tests.conftest import ROOT, Synthesized

BASELINE = ROOT / ".secrets.baseline"

# Filters added to detect-secrets' defaults, with what each one lets through.
SECRET_PATTERNS = {
    # A CDK logical id (or artifact id, or an output name built from them): the construct path's
    # alphanumerics plus an 8-digit uppercase hex hash of the path, e.g. VpcIsolatedSubnet1Subnet
    # E48C5737. The lowercase letter it must contain keeps AWS access key ids (all uppercase) out.
    r"^(?=[A-Za-z0-9]*[a-z])[A-Za-z][A-Za-z0-9]*[0-9A-F]{8}$": "CDK logical id",
    # A construct path of this app (tree.json, stack metadata), e.g. Strongbox-Dev/Network/Vpc/...
    r"^/?Strongbox-[A-Za-z0-9-]+(?:/[A-Za-z0-9_-]+)+$": "construct path",
    # An integ-tests assertion's logical id or output name (tests/integ snapshots): the API call
    # plus the 32-hex hash of its parameters, e.g. AwsApiCallSQSreceiveMessage<hash>.
    r"^(?:AssertionResults)?(?:AwsApiCall|LambdaInvoke)[A-Za-z0-9]*[0-9a-f]{32}$": (
        "integ-tests assertion id"
    ),
    # The SSM parameter of a cross-region reference: /cdk/exports/<stack>/<logical id>.
    r"^/cdk/exports/[A-Za-z0-9-]+/[A-Za-z0-9]+$": "cross-region reference",
}
LINE_PATTERNS = {
    # An asset manifest's entry, keyed by the SHA-256 of the asset's content.
    r'^\s*"[0-9a-f]{64}": \{$': "asset hash",
    # A cdk-nag acknowledgment in stack metadata: rule name (which may contain "Secret") and reason.
    r'^\s*"Annotation::[A-Za-z0-9.:_-]+": "': "acknowledgment reason",
    # The settings of the AWS Parameters and Secrets Lambda Extension (cache, port, log level).
    r'^\s*"PARAMETERS_SECRETS_EXTENSION_[A-Z_]+": "[^"]*",?$': "Lambda extension setting",
}
BASELINE_FILE_FILTER = "detect_secrets.filters.common.is_baseline_file"
BY_VALUE_FILTER = "detect_secrets.filters.regex.should_exclude_secret"
BY_LINE_FILTER = "detect_secrets.filters.regex.should_exclude_line"

AWS_KEY = "AWS Access Key"
BASE64 = "Base64 High Entropy String"
BASIC_AUTH = "Basic Auth Credentials"
HEX = "Hex High Entropy String"
KEYWORD = "Secret Keyword"
PEM = "Private Key"

# Every (file, type) the baseline may hold, and why each of its entries is not a secret.
DOCUMENTED_FALSE_POSITIVES = {
    ("docs/configuration.md", KEYWORD): (
        "the rejected-input table's master_secret names another secret's purpose"
    ),
    ("checkov-skips.yaml", KEYWORD): "a skip reason's prose mentions secretsmanager actions",
    ("constructs/strongbox/parameters/handler.py", KEYWORD): (
        "maps the secretsmanager service to the name of its endpoint variable"
    ),
    ("constructs/strongbox/__init__.py", KEYWORD): (
        "maps exported class names (SecretConsumer, SecretsKey, ...) to their modules"
    ),
    ("constructs/strongbox/report/diagram.py", KEYWORD): "maps the node kind 'secret' to a shape",
    ("constructs/strongbox/access/calls.py", KEYWORD): (
        "the name of Secrets Manager's encryption-context condition key"
    ),
    ("constructs/strongbox/rotation/calls.py", KEYWORD): (
        "maps secretsmanager actions to what they act on ('secret')"
    ),
    ("constructs/strongbox/parameters/calls.py", KEYWORD): (
        "maps secretsmanager actions to what they act on ('source')"
    ),
    ("constructs/strongbox/reader/calls.py", KEYWORD): (
        "maps secretsmanager actions to what they act on ('secret')"
    ),
    ("constructs/strongbox/secrets.py", KEYWORD): (
        "maps hosted rotation's secretsmanager actions to what they act on ('secret')"
    ),
    ("tests/aws_calls.py", KEYWORD): "maps a declared resource kind to a request field name",
    ("tests/test_report.py", KEYWORD): "a hand-built identity policy granting a secret's ARN",
    ("tests/test_report_cost.py", KEYWORD): "the pricing page URL of Secrets Manager",
    ("tests/stateful_resources.json", KEYWORD): "maps pinned logical ids to resource types",
    ("tests/test_config.py", KEYWORD): "master_secret set to other secrets' purposes",
    ("tests/test_config_fuzz.py", KEYWORD): (
        "master_secret and source.secret set to secret purposes; a key path naming secrets"
    ),
    ("tests/test_config_fuzz.py", AWS_KEY): "a tricky string the fuzzer feeds the loader",
    ("tests/test_config_fuzz.py", BASIC_AUTH): "a tricky URL string the fuzzer feeds the loader",
    ("tests/test_consumer.py", KEYWORD): "expected environment: a field name and a version stage",
    ("tests/test_guard.py", KEYWORD): (
        "a literal SecretString and a password in an ECS environment, inputs the Guard rules "
        "must refuse"
    ),
    ("tests/test_guard.py", AWS_KEY): (
        "AWS's documented example access key id in an ECS environment, an input the Guard "
        "rules must refuse"
    ),
    ("tests/test_lockout.py", KEYWORD): "a secret *name* prefix passed to the construct",
    ("tests/test_network_parameters.py", AWS_KEY): (
        "fake access key id in a String parameter, an input the config must refuse"
    ),
    ("tests/test_network_parameters.py", BASIC_AUTH): (
        "fake URL with a password in a String parameter, an input the config must refuse"
    ),
    ("tests/test_network_parameters.py", BASE64): (
        "fake random-looking String parameter value, an input the config must refuse"
    ),
    ("tests/test_network_parameters.py", KEYWORD): "names an unknown secret, the refusal tested",
    ("tests/test_reader_handler.py", KEYWORD): (
        "fake values served by the fake extension; field names, stages and a port in the "
        "environment under test"
    ),
    ("tests/test_rotation_handler.py", KEYWORD): "fake API keys the fake Secrets Manager rotates",
    ("tests/test_secure_string_handler.py", HEX): "fake signature of a presigned response URL",
    ("tests/test_secure_string_handler.py", AWS_KEY): (
        "fake temporary access key id (ending in EXAMPLE) of that presigned URL"
    ),
    ("tests/test_secure_string_handler.py", BASE64): "fake value copied into a SecureString",
    ("tests/test_secure_string_handler.py", KEYWORD): (
        "a fake pending value, and a secret name where an ARN is required (the refusal tested)"
    ),
    ("tests/test_workload.py", KEYWORD): "asserts the Lambda extension's cache setting",
}


@dataclass(frozen=True)
class Finding:
    file: str  # relative to the scanned root
    line: int
    type: str  # the plugin's secret type
    hashed_secret: str

    @property
    def key(self) -> tuple[str, str, str]:
        """What detect-secrets compares a finding with a baseline entry by (not the line)."""
        return self.file, self.type, self.hashed_secret

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.type}"


@cache
def baseline() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(BASELINE.read_text())
    return loaded


def baseline_findings() -> list[Finding]:
    return [
        Finding(file, entry["line_number"], entry["type"], entry["hashed_secret"])
        for file, entries in baseline()["results"].items()
        for entry in entries
    ]


def scan(root: Path, files: Iterable[str]) -> list[Finding]:
    """detect-secrets over `files` (relative to `root`), with the baseline's plugins and filters."""
    settings = {key: baseline()[key] for key in ("plugins_used", "filters_used")}
    with transient_settings(settings):
        collection = SecretsCollection(root=str(root))
        for file in files:
            collection.scan_file(file)
        return [
            Finding(file, secret.line_number, secret.type, secret.secret_hash)
            for file, secret in collection
        ]


# The snapshot tests hold these equal to the templates of a fresh synth, which
# test_cloud_assembly_holds_no_secret scans (with no baseline at all): scanning them again here
# would cost a third of this scan and find nothing new.
SNAPSHOTS = "tests/__snapshots__/"


def tracked_files() -> list[str]:
    git = shutil.which("git")
    assert git is not None
    listed = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    # A tracked file deleted in the work tree is not there to scan.
    return [
        file
        for file in listed.split("\0")
        if file and not file.startswith(SNAPSHOTS) and (ROOT / file).is_file()
    ]


def scan_cloud_assembly(outdir: Path, workdir: Path) -> tuple[list[str], list[Finding]]:
    """Every JSON file of a cloud assembly, and what detect-secrets finds in them. A file on one
    line (tree.json) is scanned pretty-printed into `workdir`, one value per line as in the
    templates, so findings have a useful line number and line filters see one value at a time."""
    files = sorted(path.relative_to(outdir).as_posix() for path in outdir.rglob("*.json"))
    as_is, minified = [], []
    for file in files:
        text = (outdir / file).read_text(encoding="utf-8")
        if text.count("\n") > 1:
            as_is.append(file)
            continue
        copy = workdir / file
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(json.dumps(json.loads(text), indent=1, ensure_ascii=False) + "\n")
        minified.append(file)
    findings = scan(outdir, as_is) + [
        Finding(
            f"{finding.file} (pretty-printed)", finding.line, finding.type, finding.hashed_secret
        )
        for finding in scan(workdir, minified)
    ]
    return files, findings


def report(findings: Iterable[Finding]) -> str:
    return "\n".join(str(finding) for finding in findings)


def test_tracked_files_hold_no_secret_outside_the_baseline() -> None:
    files = tracked_files()
    assert "app.py" in files

    found = scan(ROOT, files)

    known = {entry.key for entry in baseline_findings()}
    new = [finding for finding in found if finding.key not in known]
    assert not new, f"detect-secrets findings not in .secrets.baseline:\n{report(new)}"
    # A stale entry would let that exact value back in unnoticed.
    found_keys = {finding.key for finding in found}
    stale = [entry for entry in baseline_findings() if entry.key not in found_keys]
    assert not stale, f".secrets.baseline entries no longer found:\n{report(stale)}"


def test_baseline_lists_only_audited_documented_false_positives() -> None:
    entries = [entry for entries in baseline()["results"].values() for entry in entries]
    unaudited = [entry for entry in entries if entry.get("is_secret") is not False]
    assert not unaudited, f"baseline entries not audited as false positives: {unaudited}"

    listed = {(entry["filename"], entry["type"]) for entry in entries}
    assert listed <= set(DOCUMENTED_FALSE_POSITIVES), (
        f"undocumented: {sorted(listed - set(DOCUMENTED_FALSE_POSITIVES))}"
    )
    assert set(DOCUMENTED_FALSE_POSITIVES) <= listed, (
        f"documented but not in the baseline: {sorted(set(DOCUMENTED_FALSE_POSITIVES) - listed)}"
    )


def test_baseline_scans_with_every_plugin_and_filter_plus_the_documented_ones() -> None:
    with default_settings() as settings:
        defaults = settings.json()
    assert baseline()["plugins_used"] == defaults["plugins_used"]

    filters = {entry["path"]: entry for entry in baseline()["filters_used"]}
    default_filters = {entry["path"]: entry for entry in defaults["filters_used"]}
    assert {path: filters.get(path) for path in default_filters} == default_filters
    assert filters[BASELINE_FILE_FILTER]["filename"] == BASELINE.name
    assert filters[BY_VALUE_FILTER]["pattern"] == list(SECRET_PATTERNS)
    assert filters[BY_LINE_FILTER]["pattern"] == list(LINE_PATTERNS)
    # Nothing else: in particular not the verification filter (see the module docstring).
    assert set(filters) == {*default_filters, BASELINE_FILE_FILTER, BY_VALUE_FILTER, BY_LINE_FILTER}


def test_cloud_assembly_holds_no_secret(synthesized: Synthesized, tmp_path: Path) -> None:
    files, findings = scan_cloud_assembly(synthesized.outdir, tmp_path)

    templates = [file for file in files if file.endswith(".template.json")]
    assert len(templates) == len(synthesized.stacks)
    assert {"manifest.json", "tree.json"} <= set(files)
    assert any(file.endswith(".assets.json") for file in files)
    assert not findings, f"detect-secrets findings in cdk.out:\n{report(findings)}"


# Planted secrets: realistic-looking, derived at run time so this file holds none itself.
_SEED = hashlib.sha256(b"strongbox secret-scan canary").digest()
FAKE_ACCESS_KEY_ID = "AKIA" + base64.b32encode(_SEED).decode()[:16]
FAKE_SECRET_ACCESS_KEY = base64.b64encode(_SEED + _SEED[:10]).decode()[:40]
FAKE_PRIVATE_KEY = "\n".join(
    [
        " ".join(["-----BEGIN", "RSA", "PRIVATE", "KEY-----"]),
        *(base64.b64encode(hashlib.sha512(_SEED + bytes([i])).digest()).decode() for i in range(4)),
        " ".join(["-----END", "RSA", "PRIVATE", "KEY-----"]),
    ]
)


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        (
            "credentials",
            "[default]\n"
            f"aws_access_key_id = {FAKE_ACCESS_KEY_ID}\n"
            f"aws_secret_access_key = {FAKE_SECRET_ACCESS_KEY}\n",
            [(2, AWS_KEY), (3, AWS_KEY), (3, BASE64), (3, KEYWORD)],
        ),
        (
            "settings.py",
            f'AWS_ACCESS_KEY_ID = "{FAKE_ACCESS_KEY_ID}"\n'
            f'AWS_SECRET_ACCESS_KEY = "{FAKE_SECRET_ACCESS_KEY}"\n',
            [(1, AWS_KEY), (2, AWS_KEY), (2, BASE64), (2, KEYWORD)],
        ),
        ("deploy_key.pem", FAKE_PRIVATE_KEY + "\n", [(1, PEM)]),
    ],
)
def test_scan_reports_a_planted_secret(
    tmp_path: Path, file: str, content: str, expected: list[tuple[int, str]]
) -> None:
    (tmp_path / file).write_text(content)

    found = scan(tmp_path, [file])

    assert sorted((finding.line, finding.type) for finding in found) == expected, report(found)


def test_cloud_assembly_scan_reports_a_planted_secret(tmp_path: Path) -> None:
    """A secret in a template, in tree.json (minified) and in an asset manifest is found; the CDK
    names, the asset hash and the extension setting around it are not."""
    outdir = tmp_path / "cdk.out"
    template = {
        "Resources": {
            "ReaderFunctionB3A5C7D9": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Environment": {
                        "Variables": {
                            "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "true",
                            "DB_PASSWORD": FAKE_SECRET_ACCESS_KEY,
                        }
                    }
                },
            },
            "ReaderAccessKey": {
                "Type": "AWS::IAM::AccessKey",
                "Properties": {"Description": FAKE_ACCESS_KEY_ID},
            },
        },
        "Outputs": {"PublishOutputRefVpcIsolatedSubnet1SubnetE48C57370776373F": {"Value": "x"}},
    }
    stage = outdir / "assembly-Strongbox-Dev"
    stage.mkdir(parents=True)
    template_file = "assembly-Strongbox-Dev/StrongboxDevWorkload65D1E4AE.template.json"
    (outdir / template_file).write_text(json.dumps(template, indent=1))
    tree = {"tree": {"path": "Strongbox-Dev/Workload/Reader", "attributes": template}}
    (outdir / "tree.json").write_text(json.dumps(tree))
    asset_hash = hashlib.sha256(b"asset").hexdigest()
    assets = {
        "files": {asset_hash: {"source": {"path": f"asset.{asset_hash}"}}},
        "hmac": _SEED.hex(),
    }
    assets_file = "assembly-Strongbox-Dev/StrongboxDevWorkload65D1E4AE.assets.json"
    (outdir / assets_file).write_text(json.dumps(assets, indent=1))

    files, findings = scan_cloud_assembly(outdir, tmp_path / "pretty")

    assert files == [assets_file, template_file, "tree.json"]
    assert sorted((finding.file, finding.type) for finding in findings) == [
        (assets_file, HEX),
        *(
            (file, plugin)
            for file in (template_file, "tree.json (pretty-printed)")
            for plugin in (AWS_KEY, BASE64, KEYWORD)
        ),
    ], report(findings)
    assert all(finding.line > 1 for finding in findings), report(findings)
