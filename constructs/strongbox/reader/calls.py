"""The AWS calls the reading function makes, itself or through the Parameters and Secrets
extension (which calls with the function's role): action -> what it acts on.

`strongbox.access` proves each is allowed for every value the function reads, and
tests/test_reader_handler.py fails on any call the handler makes that is not listed here.
"""

# "secret" and "parameter": each value the consumer declares.
CALLS = {
    "secretsmanager:GetSecretValue": "secret",  # the extension, and fresh() for secrets
    "ssm:GetParameter": "parameter",  # the extension
    "ssm:GetParameters": "parameter",  # fresh() for parameters
}
