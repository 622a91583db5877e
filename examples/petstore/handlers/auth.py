"""The petstore's Lambda authorizers, as they would run on AWS Lambda."""


def _policy(principal, effect, resource, context=None):
    return {"principalId": principal,
            "policyDocument": {"Version": "2012-10-17",
                               "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]},
            "context": context or {}}


def token_handler(event, context):
    """TOKEN authorizer: 'allow-NAME' is a caller, 'deny' is refused, anything else is Unauthorized."""
    token = event["authorizationToken"]
    api_arn = event["methodArn"].split("/", 1)[0]  # arn:aws:execute-api:region:account:api-id
    if token.startswith("allow-"):
        # The whole stage, not just event["methodArn"]: this result is cached for other methods too.
        return _policy(token[len("allow-"):], "Allow", f"{api_arn}/prod/*", {"tier": "gold"})
    if token == "deny":
        return _policy("nobody", "Deny", event["methodArn"])
    raise Exception("Unauthorized")


def request_handler(event, context):
    """REQUEST authorizer: the X-User header names the caller; the tenant query parameter must be acme."""
    user = event["headers"].get("X-User") or event["headers"].get("x-user")
    tenant = (event.get("queryStringParameters") or {}).get("tenant")
    effect = "Allow" if tenant == "acme" else "Deny"
    return _policy(user, effect, event["methodArn"], {"tenant": tenant or ""})
