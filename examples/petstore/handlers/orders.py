"""An AWS_IAM-protected function: it answers with who called, as API Gateway told it."""

import json


def handler(event, context):
    identity = event["requestContext"]["identity"]
    caller = {k: identity[k] for k in ("caller", "user", "userArn", "accountId", "accessKey")}
    status = 201 if event["httpMethod"] == "POST" else 200
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"orders": [], "calledBy": caller})}
