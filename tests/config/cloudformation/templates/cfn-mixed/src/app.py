import json
import os


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"env": os.environ.get("ENV", "")})}


def authorize(event, context):
    return {"isAuthorized": True}
