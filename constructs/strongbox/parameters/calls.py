"""The AWS calls the SecureString provider makes: action -> what it acts on.

`strongbox.access` proves each is allowed for every SecureString of the tree, and
tests/test_secure_string_handler.py fails on any call the handler makes that is not listed here.
"""

# "parameter": the SecureString; "source": the secret a copy reads; "*": no resource.
CALLS = {
    "ssm:PutParameter": "parameter",
    # PutParameter with Tags (on create) is authorized as AddTagsToResource as well.
    "ssm:AddTagsToResource": "parameter",
    "ssm:GetParameter": "parameter",
    "ssm:DeleteParameter": "parameter",
    "ssm:ListTagsForResource": "parameter",
    "secretsmanager:GetRandomPassword": "*",
    "secretsmanager:GetSecretValue": "source",
}
