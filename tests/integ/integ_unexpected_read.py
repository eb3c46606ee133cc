"""A read by a role outside the allowed readers reaches the alert topic; the allowed reader's
does not count as one.

Deploys: a key, one secret, `RotationAlerts` (its topic encrypted with the key) with the
expected reader as the only allowed reader, an SQS queue subscribed to the topic (the test reads
the alerts there), and two probes, both granted the secret: the expected reader and a stranger.
No VPC: the reads go to Secrets Manager's public endpoint, as any role's could.
Asserts: both reads succeed; within 15 minutes (CloudTrail delivers management events to
EventBridge within minutes) the queue holds an alert naming the stranger's role.
Needs: a CloudTrail trail logging management events in the account (an organization trail
counts); EventBridge sees no read without one.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import integ_tests_alpha as integ

from strongbox import RotationAlerts
from tests.integ.support import DESTROY, ScenarioStack, checker, integ_test, invoked, returns

app = cdk.App()
stack = ScenarioStack(app, "StrongboxIntegUnexpectedRead", scenario="alert", network=False)
token = stack.secret(
    "token",
    rotation_disabled_reason="Deleted when the integration test ends, minutes after it is created.",
)
expected, stranger = checker(stack, "Expected"), checker(stack, "Stranger")
for probe in (expected, stranger):
    token.grant_read(probe)
assert expected.role is not None and stranger.role is not None
alerts = RotationAlerts(
    stack,
    "Alerts",
    encryption_key=stack.key,
    secret_name_prefix=stack.name_prefix,
    allowed_reader_arns=[expected.role.role_arn],
)
inbox = sqs.Queue(
    stack,
    "Inbox",
    encryption=sqs.QueueEncryption.SQS_MANAGED,
    enforce_ssl=True,
    removal_policy=DESTROY,
)
alerts.topic.add_subscription(subscriptions.SqsSubscription(inbox))

test = integ_test(app, "UnexpectedRead", [stack])
read = {"action": "read", "secret_id": token.secret_arns()[0]}
expected_read, stranger_read = invoked(test, expected, read), invoked(test, stranger, read)
for call in (expected_read, stranger_read):
    returns(call, {"outcome": "ALLOWED"})
alert = test.assertions.aws_api_call(
    "SQS",
    "receiveMessage",
    {"QueueUrl": inbox.queue_url, "WaitTimeSeconds": 20, "MaxNumberOfMessages": 10},
)
stranger_read.next(alert)
# The body is SNS's JSON envelope, which the assertion parses; its Message is the EventBridge
# event as text, naming the reader's role.
alert.assert_at_path(
    "Messages.0.Body.Message",
    integ.ExpectedResult.string_like_regexp(f".*{stranger.role.role_name}.*"),
)
alert.wait_for_assertions(total_timeout=cdk.Duration.minutes(15), interval=cdk.Duration.seconds(60))
app.synth()
