"""The AWS calls the rotation handler makes: action -> what it acts on.

`strongbox.access` proves each is allowed for every secret the function rotates, and
tests/test_rotation_handler.py fails on any call the handler makes that is not listed here.
"""

# "secret": the secret being rotated; "*": an action without a resource.
CALLS = {
    "secretsmanager:DescribeSecret": "secret",
    "secretsmanager:GetSecretValue": "secret",
    "secretsmanager:PutSecretValue": "secret",
    "secretsmanager:UpdateSecretVersionStage": "secret",
    "secretsmanager:GetRandomPassword": "*",
}
