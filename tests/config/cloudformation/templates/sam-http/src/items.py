import json


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"routeKey": event.get("routeKey") or event.get("resource")})}
