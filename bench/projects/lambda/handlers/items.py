"""The function behind scenario (d): a Lambda proxy-integration handler with a fixed answer.

It returns the same ~100-byte JSON body as ``bench/backend.py``, prepared once at import time
(Lambda's init phase), so the benchmark measures the gateway's event building, invocation and
response mapping rather than the handler's own work.
"""

import json

BODY = json.dumps({"ok": True, "service": "lambda", "message": "hello from the bench handler",
                   "id": "a1b2c3d4e5f60718", "n": 42}, separators=(",", ":"))


def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": BODY}
