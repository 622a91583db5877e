"""The petstore's Lambda function: a proxy-integration handler, as it would run on AWS Lambda."""

import json
import threading

PETS = {"1": {"id": "1", "type": "dog", "price": 249.99}, "2": {"id": "2", "type": "cat", "price": 124.99}}
_lock = threading.Lock()


def _answer(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json",
                                              "Access-Control-Allow-Origin": "*"},
            "body": json.dumps(body)}


def handler(event, context):
    method, resource = event["httpMethod"], event["resource"]
    if resource == "/pets" and method == "GET":
        return _answer(200, sorted(PETS.values(), key=lambda p: p["id"]))
    if resource == "/pets" and method == "POST":
        try:
            pet = json.loads(event["body"] or "")
        except ValueError:
            return _answer(400, {"message": "body must be a JSON object"})
        with _lock:
            pet["id"] = str(len(PETS) + 1)
            PETS[pet["id"]] = pet
        return _answer(201, pet)
    if resource == "/pets/{petId}":
        pet = PETS.get(event["pathParameters"]["petId"])
        return _answer(200, pet) if pet else _answer(404, {"message": "no such pet"})
    return _answer(400, {"message": f"unexpected {method} {resource}"})
