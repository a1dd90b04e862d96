"""Test credentials for the moto S3 endpoint of ``conftest.py`` (its ``endpoint`` and ``s3`` fixtures)."""

CREDS = {
    "AWS_ACCESS_KEY_ID": "kubefort-test",
    "AWS_SECRET_ACCESS_KEY": "kubefort-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
