"""The report's IAM policy evaluator: matching, principals, conditions and deny-wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from strongbox.access.policy import Outcome, PrincipalMatch, Request, evaluate, principal_match

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/strongbox/app/app-prod-api-execution"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/admin/break-glass"
SECRETS = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret"
SECRET = f"{SECRETS}:prod/app/db-??????"
GET = "secretsmanager:GetSecretValue"
NONE = PrincipalMatch.NONE
NOTHING = Outcome("none", (), (), NONE, ())

Context = Mapping[str, str | Sequence[str] | None]


def request(
    *, action: str = GET, resource: str = SECRET, caller: str = ROLE, context: Context | None = None
) -> Request:
    return Request(caller, ACCOUNT, action, resource, context or {})


def allow(**fields: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": GET, "Resource": SECRET, **fields}


def deny(**fields: object) -> dict[str, object]:
    return {"Effect": "Deny", "Action": GET, "Resource": SECRET, **fields}


def identity(*statements: Mapping[str, object], req: Request | None = None) -> Outcome:
    return evaluate(statements, req or request(), resource_based=False)


def allowed(*sids: str, match: PrincipalMatch = NONE) -> Outcome:
    return Outcome("allow", (), (), match, sids or ("#0",))


def conditional(*conditions: str, sids: tuple[str, ...] = ("#0",)) -> Outcome:
    return Outcome("allow", conditions, (), NONE, sids)


def with_condition(effect: str, condition: Mapping[str, object], context: Context) -> Outcome:
    """One statement with `condition`, evaluated against a request with `context`."""
    statement = allow if effect == "Allow" else deny
    return identity(statement(Condition=condition), req=request(context=context))


# Actions


def test_action_wildcard_in_action_name_allows() -> None:
    assert identity(allow(Action="secretsmanager:Get*")) == allowed()


def test_action_match_ignores_case() -> None:
    assert identity(allow(Action="SecretsManager:getsecretVALUE")) == allowed()


def test_action_question_mark_is_one_character() -> None:
    assert identity(allow(Action="secretsmanager:GetSecretValu?")) == allowed()
    assert identity(allow(Action="secretsmanager:Get?")) == NOTHING


def test_other_service_wildcard_does_not_match() -> None:
    assert identity(allow(Action=["kms:*", "secretsmanager:Describe*"])) == NOTHING


def test_star_action_and_resource_allow_everything() -> None:
    assert identity(allow(Action="*", Resource="*")) == allowed()


def test_not_action_excludes_the_listed_actions() -> None:
    reads = {"Effect": "Allow", "NotAction": "secretsmanager:Get*", "Resource": "*"}
    assert identity(reads) == NOTHING
    keys = {"Effect": "Allow", "NotAction": ["kms:*", "ssm:*"], "Resource": "*"}
    assert identity(keys) == allowed()


def test_statement_without_action_does_not_apply() -> None:
    assert identity({"Effect": "Allow", "Resource": "*"}) == NOTHING


# Resources


def test_prefix_pattern_matches_secret_with_unknown_suffix() -> None:
    assert identity(allow(Resource=f"{SECRETS}:prod/app/*")) == allowed()
    assert identity(allow(Resource=f"{SECRETS}:prod/other/*")) == NOTHING


def test_question_mark_suffix_pattern_matches_six_characters() -> None:
    pattern = allow(Resource=f"{SECRETS}:prod/app/db-??????")
    assert identity(pattern) == allowed()
    assert identity(pattern, req=request(resource=f"{SECRETS}:prod/app/db-AbCdEf")) == allowed()
    assert identity(pattern, req=request(resource=f"{SECRETS}:prod/app/db-AbCdEfG")) == NOTHING


def test_concrete_suffix_does_not_match_the_placeholder_suffix() -> None:
    assert identity(allow(Resource=f"{SECRETS}:prod/app/db-AbCdEf")) == NOTHING


def test_resource_match_is_case_sensitive() -> None:
    assert identity(allow(Resource=f"{SECRETS}:Prod/app/*")) == NOTHING


def test_bracket_in_resource_is_a_literal_character() -> None:
    pattern = allow(Resource=f"{SECRETS}:prod/[ab]pp/*")
    assert identity(pattern) == NOTHING
    assert identity(pattern, req=request(resource=f"{SECRETS}:prod/[ab]pp/x-??????")) == allowed()


def test_star_in_resource_spans_colons_and_slashes() -> None:
    assert identity(allow(Resource="arn:aws:secretsmanager:*")) == allowed()


def test_not_resource_excludes_the_listed_resources() -> None:
    but_prod = {"Effect": "Allow", "Action": GET, "NotResource": f"{SECRETS}:prod/*"}
    assert identity(but_prod) == NOTHING
    but_dev = {"Effect": "Allow", "Action": GET, "NotResource": f"{SECRETS}:dev/*"}
    assert identity(but_dev) == allowed()


def test_identity_statement_without_resource_does_not_apply() -> None:
    assert identity({"Effect": "Allow", "Action": GET}) == NOTHING


def test_resource_statement_without_resource_is_about_the_resource_itself() -> None:
    statement = {"Effect": "Allow", "Action": GET, "Principal": {"AWS": ROLE}}
    outcome = evaluate([statement], request(), resource_based=True)
    assert outcome == allowed(match=PrincipalMatch.PRINCIPAL)


def test_an_unresolved_resource_may_match_any_pattern_but_star_for_certain() -> None:
    unresolved = request(resource="<unresolved Fn::If>")
    assert identity(allow(Resource="*"), req=unresolved) == allowed()
    assert identity(allow(Resource=f"{SECRETS}:*"), req=unresolved) == conditional(
        f"Resource {SECRETS}:* may match"
    )
    assert identity(allow(Resource="<unresolved Fn::If>"), req=unresolved) == allowed()


def test_an_unresolved_pattern_may_match() -> None:
    pattern = f"{SECRETS}:<unresolved Ref Name>*"
    assert identity(allow(Resource=pattern)) == conditional(f"Resource {pattern} may match")
    # A Deny with such a pattern is undecided, never ignored.
    outcome = evaluate(
        [allow(Resource="*"), deny(Resource=pattern)], request(), resource_based=False
    )
    assert outcome.effect == "allow"
    assert outcome.deny_conditions == (f"denied when Resource {pattern} may match",)


def test_policy_variable_in_resource_may_match() -> None:
    pattern = allow(Resource=f"{SECRETS}:${{aws:username}}/*")
    assert identity(pattern) == conditional(f"Resource {SECRETS}:${{aws:username}}/* may match")
    literal = request(resource=f"{SECRETS}:${{aws:username}}/*")
    assert identity(pattern, req=literal) == allowed()


def test_an_unresolved_principal_may_name_the_caller() -> None:
    statement = {**allow(), "Principal": {"AWS": "<unresolved Ref Reader>"}}
    outcome = evaluate([statement], request(), resource_based=True)
    assert outcome.effect == "allow"
    assert outcome.allow_conditions == ("Principal <unresolved Ref Reader> may name the caller",)


# Principals


def test_account_id_names_the_account() -> None:
    assert principal_match({"AWS": ACCOUNT}, ROLE, ACCOUNT) is PrincipalMatch.ACCOUNT


def test_root_arn_names_the_account() -> None:
    root = f"arn:aws:iam::{ACCOUNT}:root"
    assert principal_match({"AWS": root}, ROLE, ACCOUNT) is PrincipalMatch.ACCOUNT


def test_exact_role_arn_names_the_principal() -> None:
    assert principal_match({"AWS": ROLE}, ROLE, ACCOUNT) is PrincipalMatch.PRINCIPAL


def test_role_arn_must_match_exactly_with_path_and_case() -> None:
    pathless = f"arn:aws:iam::{ACCOUNT}:role/app-prod-api-execution"
    assert principal_match({"AWS": pathless}, ROLE, ACCOUNT) is NONE
    assert principal_match({"AWS": ROLE.upper()}, ROLE, ACCOUNT) is NONE
    assert principal_match({"AWS": ADMIN}, ROLE, ACCOUNT) is NONE


def test_other_account_does_not_match() -> None:
    other = ["222222222222", "arn:aws:iam::222222222222:root"]
    assert principal_match({"AWS": other}, ROLE, ACCOUNT) is NONE


def test_non_aws_principals_never_match_a_role() -> None:
    assert principal_match({"Service": "lambda.amazonaws.com"}, ROLE, ACCOUNT) is NONE
    assert principal_match({"Federated": "cognito-identity.amazonaws.com"}, ROLE, ACCOUNT) is NONE
    assert principal_match({"CanonicalUser": "79a59df9"}, ROLE, ACCOUNT) is NONE


def test_wildcard_principal_is_anyone() -> None:
    assert principal_match("*", ROLE, ACCOUNT) is PrincipalMatch.ANYONE
    assert principal_match({"AWS": "*"}, ROLE, ACCOUNT) is PrincipalMatch.ANYONE


def test_strongest_principal_in_a_list_wins() -> None:
    names = ["*", ACCOUNT, ROLE, "222222222222"]
    assert principal_match({"AWS": names}, ROLE, ACCOUNT) is PrincipalMatch.PRINCIPAL
    assert principal_match({"AWS": ["*", ACCOUNT]}, ROLE, ACCOUNT) is PrincipalMatch.ACCOUNT


def test_resource_statement_for_someone_else_does_not_apply() -> None:
    policy = [allow(Principal={"AWS": ADMIN}), allow(Principal={"Service": "rds.amazonaws.com"})]
    assert evaluate(policy, request(), resource_based=True) == NOTHING


def test_resource_outcome_reports_the_strongest_allowing_principal() -> None:
    policy = [
        allow(Sid="Account", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow(Sid="Role", Principal={"AWS": ROLE}),
        allow(Sid="Elsewhere", Principal={"AWS": "222222222222"}),
    ]
    outcome = evaluate(policy, request(), resource_based=True)
    assert outcome == allowed("Account", "Role", match=PrincipalMatch.PRINCIPAL)


def test_identity_policies_ignore_principal() -> None:
    assert identity(allow(Principal={"AWS": ADMIN})) == allowed()


def test_not_principal_deny_spares_only_principals_named_with_their_account() -> None:
    policy = [
        allow(Sid="Everyone", Principal="*"),
        deny(Sid="OnlyAdmin", NotPrincipal={"AWS": [ADMIN, f"arn:aws:iam::{ACCOUNT}:root"]}),
    ]
    spared = allowed("Everyone", match=PrincipalMatch.ANYONE)
    assert evaluate(policy, request(caller=ADMIN), resource_based=True) == spared
    denied = Outcome("deny", (), (), NONE, ("OnlyAdmin",))
    assert evaluate(policy, request(), resource_based=True) == denied


def test_not_principal_naming_only_the_role_still_denies_it() -> None:
    # AWS checks the caller's account first, and the account is not exempted.
    policy = [allow(Sid="Everyone", Principal="*"), deny(Sid="Guard", NotPrincipal={"AWS": ADMIN})]
    denied = Outcome("deny", (), (), NONE, ("Guard",))
    assert evaluate(policy, request(caller=ADMIN), resource_based=True) == denied


# Deny wins


def test_unconditional_deny_beats_allow() -> None:
    policy = [allow(Sid="Read"), deny(Sid="Never", Action="secretsmanager:*")]
    assert identity(*policy) == Outcome("deny", (), (), NONE, ("Never",))


def test_conditional_deny_is_listed_but_does_not_decide() -> None:
    vpce = {"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}}
    outcome = identity(allow(Sid="Read"), deny(Sid="OutsideVpc", Condition=vpce))
    denied_when = ("denied when StringNotEquals aws:SourceVpce = vpce-0abc",)
    assert outcome == Outcome("allow", (), denied_when, NONE, ("Read",))


def test_conditional_deny_without_allow_is_still_implicit_deny() -> None:
    vpce = {"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}}
    denied_when = ("denied when StringNotEquals aws:SourceVpce = vpce-0abc",)
    assert identity(deny(Condition=vpce)) == Outcome("none", (), denied_when, NONE, ())


def test_deny_for_another_resource_does_not_apply() -> None:
    policy = [allow(), deny(Resource=f"{SECRETS}:dev/*")]
    assert identity(*policy) == allowed()


# Conditions


def test_unknown_key_makes_allow_conditional() -> None:
    vpce = {"StringEquals": {"aws:SourceVpce": "vpce-0abc"}}
    expected = conditional("StringEquals aws:SourceVpce = vpce-0abc")
    assert with_condition("Allow", vpce, {}) == expected


def test_unconditional_allow_makes_conditional_ones_irrelevant() -> None:
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert identity(allow(Sid="Mfa", Condition=mfa), allow(Sid="Plain")) == allowed("Plain")


def test_conditional_allows_are_each_rendered() -> None:
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": True}}
    ip = {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}
    outcome = identity(allow(Sid="Mfa", Condition=mfa), allow(Condition=ip))
    texts = (
        "Bool aws:MultiFactorAuthPresent = true",
        "IpAddress aws:SourceIp = 10.0.0.0/8 | 192.168.0.0/16",
    )
    assert outcome == conditional(*texts, sids=("Mfa", "#1"))


def test_via_service_with_the_right_service_applies() -> None:
    via = {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}
    context = {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    assert with_condition("Allow", via, context) == allowed()


def test_via_service_with_the_wrong_service_does_not_apply() -> None:
    via = {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}
    context = {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"}
    assert with_condition("Allow", via, context) == NOTHING


def test_caller_account_condition() -> None:
    caller = {"StringEquals": {"kms:CallerAccount": ACCOUNT}}
    assert with_condition("Allow", caller, {"kms:CallerAccount": ACCOUNT}) == allowed()
    assert with_condition("Allow", caller, {"kms:CallerAccount": "222222222222"}) == NOTHING


def test_context_key_names_ignore_case() -> None:
    caller = {"StringEquals": {"kms:CallerAccount": ACCOUNT}}
    assert with_condition("Allow", caller, {"KMS:CALLERACCOUNT": ACCOUNT}) == allowed()


def test_deny_unless_admin_spares_admins_and_denies_others() -> None:
    admins = {"ArnNotLike": {"aws:PrincipalArn": [ADMIN, "arn:aws:iam::*:role/ops/*"]}}
    guard = deny(Sid="AdminsOnly", Condition=admins)
    policy = [allow(Sid="Read"), guard]
    as_admin = request(caller=ADMIN, context={"aws:PrincipalArn": ADMIN})
    assert identity(*policy, req=as_admin) == allowed("Read")
    ops = f"arn:aws:iam::{ACCOUNT}:role/ops/oncall"
    assert identity(*policy, req=request(context={"aws:PrincipalArn": ops})) == allowed("Read")
    as_app = request(context={"aws:PrincipalArn": ROLE})
    assert identity(*policy, req=as_app) == Outcome("deny", (), (), NONE, ("AdminsOnly",))


def test_arn_like_star_does_not_span_colons() -> None:
    context = {"aws:PrincipalArn": ROLE}
    within_field = {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/strongbox/*"}}
    assert with_condition("Allow", within_field, context) == allowed()
    across_fields = {"ArnLike": {"aws:PrincipalArn": "arn:*:role/strongbox/*"}}
    assert with_condition("Allow", across_fields, context) == NOTHING
    as_string = {"StringLike": {"aws:PrincipalArn": "arn:*:role/strongbox/*"}}
    assert with_condition("Allow", as_string, context) == allowed()


def test_if_exists_with_absent_key_is_true() -> None:
    vpce = {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-0abc"}}
    assert with_condition("Allow", vpce, {"aws:SourceVpce": None}) == allowed()
    assert with_condition("Allow", vpce, {"aws:SourceVpce": "vpce-other"}) == NOTHING


def test_absent_key_fails_a_positive_operator() -> None:
    vpce = {"StringEquals": {"aws:SourceVpce": "vpce-0abc"}}
    assert with_condition("Allow", vpce, {"aws:SourceVpce": None}) == NOTHING


def test_negated_operator_with_absent_key_is_true() -> None:
    vpce = {"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}}
    denied = Outcome("deny", (), (), NONE, ("#0",))
    assert with_condition("Deny", vpce, {"aws:SourceVpce": None}) == denied
    assert with_condition("Deny", vpce, {"aws:SourceVpce": "vpce-0abc"}) == NOTHING


def test_null_operator() -> None:
    is_absent = {"Null": {"aws:SourceVpce": "true"}}
    is_present = {"Null": {"aws:SourceVpce": "false"}}
    absent, present = {"aws:SourceVpce": None}, {"aws:SourceVpce": "vpce-0abc"}
    assert with_condition("Allow", is_absent, absent) == allowed()
    assert with_condition("Allow", is_absent, present) == NOTHING
    assert with_condition("Allow", is_present, present) == allowed()
    assert with_condition("Allow", is_present, absent) == NOTHING
    assert with_condition("Allow", is_absent, {}) == conditional("Null aws:SourceVpce = true")


def test_for_any_value() -> None:
    tags = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "owner"]}}
    assert with_condition("Allow", tags, {"aws:TagKeys": ["cost", "owner"]}) == allowed()
    assert with_condition("Allow", tags, {"aws:TagKeys": ["cost"]}) == NOTHING
    assert with_condition("Allow", tags, {"aws:TagKeys": None}) == NOTHING


def test_for_all_values() -> None:
    tags = {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "owner"]}}
    assert with_condition("Allow", tags, {"aws:TagKeys": ["team", "owner"]}) == allowed()
    assert with_condition("Allow", tags, {"aws:TagKeys": ["team", "cost"]}) == NOTHING
    assert with_condition("Allow", tags, {"aws:TagKeys": None}) == allowed()
    assert with_condition("Allow", tags, {"aws:TagKeys": []}) == allowed()


def test_multiple_values_for_one_key_or_together() -> None:
    vpces = {"StringEquals": {"aws:SourceVpce": ["vpce-0abc", "vpce-0def"]}}
    assert with_condition("Allow", vpces, {"aws:SourceVpce": "vpce-0def"}) == allowed()
    assert with_condition("Allow", vpces, {"aws:SourceVpce": "vpce-0123"}) == NOTHING


def test_multiple_keys_and_together() -> None:
    both = {
        "StringEquals": {"kms:CallerAccount": ACCOUNT, "aws:SourceVpce": "vpce-0abc"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    known = {"kms:CallerAccount": ACCOUNT, "aws:SecureTransport": "true"}
    expected = conditional("StringEquals aws:SourceVpce = vpce-0abc")
    assert with_condition("Allow", both, known) == expected
    wrong_account = {**known, "kms:CallerAccount": "222222222222"}
    assert with_condition("Allow", both, wrong_account) == NOTHING
    everything = {**known, "aws:SourceVpce": "vpce-0abc"}
    assert with_condition("Allow", both, everything) == allowed()


def test_several_unknown_conditions_join_with_and() -> None:
    both = {
        "StringEquals": {"aws:SourceVpce": "vpce-0abc"},
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
    }
    expected = "StringEquals aws:SourceVpce = vpce-0abc and Bool aws:MultiFactorAuthPresent = true"
    assert with_condition("Allow", both, {}) == conditional(expected)
    denied_when = (f"denied when {expected}",)
    assert with_condition("Deny", both, {}) == Outcome("none", (), denied_when, NONE, ())


def test_non_string_condition_values_compare_as_json_text() -> None:
    secure = {"Bool": {"aws:SecureTransport": True}}
    assert with_condition("Allow", secure, {"aws:SecureTransport": "true"}) == allowed()
    young = {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}
    assert with_condition("Allow", young, {"aws:MultiFactorAuthAge": "60"}) == allowed()
    assert with_condition("Allow", young, {"aws:MultiFactorAuthAge": "7200"}) == NOTHING


def test_policy_variable_in_condition_is_unknown() -> None:
    own = {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}}
    context = {"aws:ResourceTag/owner": "alice"}
    expected = conditional("StringEquals aws:ResourceTag/owner = ${aws:username}")
    assert with_condition("Allow", own, context) == expected


def test_unsupported_and_date_operators() -> None:
    binary = {"BinaryEquals": {"aws:Whatever": "QmluYXJ5"}}
    assert with_condition("Allow", binary, {"aws:Whatever": None}) == conditional(
        "BinaryEquals aws:Whatever = QmluYXJ5"
    )
    before = {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}
    assert with_condition("Allow", before, {"aws:CurrentTime": "2029-01-01T00:00:00Z"}) == (
        conditional("DateLessThan aws:CurrentTime = 2030-01-01T00:00:00Z")
    )
    assert with_condition("Allow", before, {"aws:CurrentTime": None}) == NOTHING


def test_string_equals_ignore_case_and_string_like() -> None:
    tag = {"StringEqualsIgnoreCase": {"aws:ResourceTag/env": "PROD"}}
    assert with_condition("Allow", tag, {"aws:ResourceTag/env": "prod"}) == allowed()
    like = {"StringLike": {"aws:ResourceTag/env": "pro?"}}
    assert with_condition("Allow", like, {"aws:ResourceTag/env": "prod"}) == allowed()
    assert with_condition("Allow", like, {"aws:ResourceTag/env": "PROD"}) == NOTHING


# Statement shapes


def test_single_statement_dict_is_accepted() -> None:
    assert evaluate(allow(Sid="Only"), request(), resource_based=False) == allowed("Only")


def test_sids_fall_back_to_the_statement_index() -> None:
    policy = [allow(Action="kms:*"), allow(Sid="Named"), allow()]
    assert identity(*policy) == allowed("Named", "#2")


def test_unknown_effect_is_ignored() -> None:
    assert identity(allow(Effect="allow")) == NOTHING
