"""Adoptions: answers with what the authorizer said about the caller."""

import json


def handler(event, context):
    authorizer = event["requestContext"].get("authorizer") or {}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"adoptions": [], "authorizer": authorizer})}
