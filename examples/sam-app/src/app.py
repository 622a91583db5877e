"""The SAM example's function: a Lambda proxy handler, exactly as it would run in AWS."""

import json
import os


def hello(event, context):
    name = (event.get("pathParameters") or {}).get("name", "world")
    greeting = os.environ.get("GREETING", "Hello")
    body = {"message": f"{greeting}, {name}!", "path": event["path"], "stage": event["requestContext"]["stage"]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
