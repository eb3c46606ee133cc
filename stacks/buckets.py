"""A private bucket encrypted with a key, with its own access-log bucket: the pipeline's
artifacts and the Config recorder's history."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct


def logged_bucket(
    scope: Construct,
    id_: str,
    key: kms.IKey,
    *,
    bucket_name: str | None = None,
) -> tuple[s3.Bucket, s3.Bucket]:
    """(access log bucket `AccessLogs`, bucket `id_`): versioned, TLS only, private, kept when
    their stack is deleted; the bucket encrypted with `key`, its access logs under
    `<id_ in lowercase>/`, old versions kept 90 days and logs a year."""
    access_logs = s3.Bucket(
        scope,
        "AccessLogs",
        # S3 server access logging delivers only to SSE-S3 buckets.
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    bucket = s3.Bucket(
        scope,
        id_,
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{id_.lower()}/",
        lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=cdk.Duration.days(90))],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    return access_logs, bucket
