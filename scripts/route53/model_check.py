"""Every response Turnout sends the AWS clients, checked against botocore's own service model
(the model the clients are generated from) before botocore parses it: botocore's parsers are
lenient (an unknown element is skipped, a missing one left out), so this is what shows that a
response has the shape the API reference gives.

`install()` hooks every botocore client made afterwards in this process (boto3's, aws-cli's,
octoDNS's); a response that breaks the model raises `ModelViolation`, which fails the call.
Checked: the XML root (REST-XML) and every element's name against the shape's members, every
required member, scalars' types and enums; an error's code must be one the operation models or
one AWS's front end sends for any operation.
"""

import datetime
import json
import xml.etree.ElementTree as ET

import botocore.client

# Errors any AWS operation may answer with (authentication, throttling, the front end).
COMMON_ERRORS = {
    "AccessDenied", "AccessDeniedException", "ExpiredToken", "IncompleteSignature",
    "InternalFailure", "InvalidClientTokenId", "MissingAuthenticationToken",
    "ServiceUnavailable", "SignatureDoesNotMatch", "Throttling", "ThrottlingException",
    "UnknownOperationException", "RequestExpired",
}

seen = set()


class ModelViolation(AssertionError):
    pass


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _wire_name(name, shape):
    return shape.serialization.get("name", name)


def _scalar(shape, text, path):
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            int(text)
        except ValueError:
            raise ModelViolation(f"{path}: {text!r} is not an {kind}") from None
    elif kind in ("double", "float"):
        try:
            float(text)
        except ValueError:
            raise ModelViolation(f"{path}: {text!r} is not a {kind}") from None
    elif kind == "boolean":
        if text not in ("true", "false"):
            raise ModelViolation(f"{path}: {text!r} is not true or false")
    elif kind == "timestamp":
        try:
            datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ModelViolation(f"{path}: {text!r} is not an ISO 8601 timestamp") from None
    elif kind == "string":
        enum = getattr(shape, "enum", None)
        if enum and text not in enum:
            raise ModelViolation(f"{path}: {text!r} is not one of {sorted(enum)}")
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and len(text) < low or high is not None and len(text) > high:
            raise ModelViolation(f"{path}: {len(text)} characters, not {low}..{high}")


def _xml(shape, element, path):
    kind = shape.type_name
    children = list(element)
    if kind == "structure":
        members = {
            _wire_name(name, m): (name, m)
            for name, m in shape.members.items()
            if m.serialization.get("location") is None
        }
        present = set()
        for child in children:
            tag = _local(child.tag)
            if tag not in members:
                raise ModelViolation(f"{path}: <{tag}> is not a member of {shape.name} ({sorted(members)})")
            name, member = members[tag]
            present.add(name)
            _xml(member, child, f"{path}.{tag}")
        body_required = [
            r for r in shape.required_members
            if shape.members[r].serialization.get("location") is None
        ]
        missing = [r for r in body_required if r not in present]
        if missing:
            raise ModelViolation(f"{path}: {shape.name} lacks the required {missing}")
    elif kind == "list":
        item = shape.member.serialization.get("name", "member")
        for i, child in enumerate(children):
            if _local(child.tag) != item:
                raise ModelViolation(f"{path}: <{_local(child.tag)}> in a list of <{item}>")
            _xml(shape.member, child, f"{path}[{i}]")
    elif kind == "map":
        raise ModelViolation(f"{path}: maps are not checked (none expected)")
    else:
        if children:
            raise ModelViolation(f"{path}: a {kind} holds elements")
        _scalar(shape, element.text or "", path)


def _json(shape, value, path):
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise ModelViolation(f"{path}: {shape.name} is not an object")
        members = {_wire_name(n, m): n for n, m in shape.members.items()}
        for key, v in value.items():
            if key not in members:
                raise ModelViolation(f"{path}: {key!r} is not a member of {shape.name} ({sorted(members)})")
            _json(shape.members[members[key]], v, f"{path}.{key}")
        missing = [r for r in shape.required_members if _wire_name(r, shape.members[r]) not in value]
        if missing:
            raise ModelViolation(f"{path}: {shape.name} lacks the required {missing}")
    elif kind == "list":
        if not isinstance(value, list):
            raise ModelViolation(f"{path}: not a list")
        for i, v in enumerate(value):
            _json(shape.member, v, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise ModelViolation(f"{path}: not a map")
        for k, v in value.items():
            _json(shape.value, v, f"{path}[{k!r}]")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ModelViolation(f"{path}: {value!r} is not an {kind}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ModelViolation(f"{path}: {value!r} is not a boolean")
    elif kind == "string":
        if not isinstance(value, str):
            raise ModelViolation(f"{path}: {value!r} is not a string")
        _scalar(shape, value, path)


def _error_code(protocol, headers, body):
    if protocol == "rest-xml":
        root = ET.fromstring(body)
        if _local(root.tag) != "ErrorResponse":
            raise ModelViolation(f"an error's root is <{_local(root.tag)}>, not <ErrorResponse>")
        code = root.find("{*}Error/{*}Code")
        if code is None or not code.text:
            raise ModelViolation("an error without Error/Code")
        if root.find("{*}Error/{*}Message") is None:
            raise ModelViolation("an error without Error/Message")
        return code.text
    document = json.loads(body)
    code = document.get("__type") or headers.get("x-amzn-errortype", "")
    if not code:
        raise ModelViolation("a JSON error without __type")
    return code.rsplit("#", 1)[-1].split(":", 1)[0]


def check(operation_model, response_dict, **_):
    """Checks one response (botocore's `before-parse` event)."""
    protocol = operation_model.metadata["protocol"]
    body = response_dict["body"]
    status = response_dict["status_code"]
    where = f"{operation_model.service_model.service_name} {operation_model.name}"
    try:
        if status >= 300:
            code = _error_code(protocol, response_dict["headers"], body)
            modeled = {e.error_code or e.name for e in operation_model.error_shapes}
            modeled |= {e.name for e in operation_model.error_shapes}
            if code not in modeled | COMMON_ERRORS:
                raise ModelViolation(f"error code {code!r} is not one {operation_model.name} answers with ({sorted(modeled)})")
            seen.add(f"{where} -> {code}")
            return
        shape = operation_model.output_shape
        if protocol == "rest-xml":
            if shape is None or not any(m.serialization.get("location") is None for m in shape.members.values()):
                if body.strip():
                    root = ET.fromstring(body)
                    if shape is not None and _local(root.tag) != shape.name:
                        raise ModelViolation(f"the root is <{_local(root.tag)}>, not <{shape.name}>")
                    if list(root):
                        raise ModelViolation(f"<{_local(root.tag)}> should be empty")
            else:
                root = ET.fromstring(body)
                if _local(root.tag) != shape.name:
                    raise ModelViolation(f"the root is <{_local(root.tag)}>, not <{shape.name}>")
                _xml(shape, root, shape.name)
        elif shape is not None:
            _json(shape, json.loads(body or b"{}"), shape.name)
        seen.add(where)
    except ModelViolation as e:
        raise ModelViolation(f"{where}: the response breaks botocore's model: {e}\n{body[:2000]!r}") from None
    except ET.ParseError as e:
        raise ModelViolation(f"{where}: the response is not XML ({e}): {body[:500]!r}") from None


def install():
    """Checks every response of every botocore client made from now on."""
    original = botocore.client.BaseClient.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.meta.events.register("before-parse", check)

    botocore.client.BaseClient.__init__ = init


def self_test(client):
    """Shows that the check fails on what it should: an unknown element, a missing required
    member, a wrong boolean, an unmodelled error code."""
    op = client.meta.service_model.operation_model("GetHostedZoneCount")
    ns = 'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"'
    bad = [
        (200, f'<GetHostedZoneCountResponse {ns}><HostedZoneCount>1</HostedZoneCount><Extra>x</Extra></GetHostedZoneCountResponse>'),
        (200, f'<GetHostedZoneCountResponse {ns}></GetHostedZoneCountResponse>'),
        (200, f'<GetHostedZoneCountResponse {ns}><HostedZoneCount>one</HostedZoneCount></GetHostedZoneCountResponse>'),
        (400, f'<ErrorResponse {ns}><Error><Code>NoSuchThing</Code><Message>m</Message></Error></ErrorResponse>'),
    ]
    for status, body in bad:
        try:
            check(op, {"status_code": status, "headers": {}, "body": body.encode()})
        except ModelViolation:
            continue
        raise AssertionError(f"the model check let through: {body}")
    good = f'<GetHostedZoneCountResponse {ns}><HostedZoneCount>1</HostedZoneCount></GetHostedZoneCountResponse>'
    check(op, {"status_code": 200, "headers": {}, "body": good.encode()})
