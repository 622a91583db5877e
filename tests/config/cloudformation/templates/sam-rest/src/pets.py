import json
import os


def handler(event, context):
    body = {"resource": event["resource"], "table": os.environ.get("TABLE", "")}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
