"""The shape of ``lychgate.yaml``, declared with pydantic: typos and wrong types are caught with
their JSON pointer, before anything is built from the file (``config.project`` does the building).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError, SchemaValidator, core_schema

from lychgate.config.model import Limits

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccessLogConfig(_Strict):
    format: str | None = None
    destination: str = "stdout"


class ThrottleConfig(_Strict):
    rate_limit: float = Field(ge=0)
    burst_limit: int = Field(ge=0)


class QuotaConfig(_Strict):
    limit: int = Field(ge=0)
    period: Literal["DAY", "WEEK", "MONTH"]
    offset: int = Field(default=0, ge=0)


METHOD_KEY = r"^(/[^ ]*|\*)/([A-Z]+|\*)$"


class StageConfig(_Strict):
    variables: dict[str, str] = Field(default_factory=dict)
    access_log: AccessLogConfig | Literal[False] | None = None
    logging_level: Literal["OFF", "ERROR", "INFO"] = "OFF"  # execution logs, as methodSettings loggingLevel
    throttle: ThrottleConfig | None = None
    method_throttle: dict[str, ThrottleConfig] = Field(default_factory=dict)

    @field_validator("method_throttle")
    @classmethod
    def _method_keys(cls, value: dict) -> dict:
        for key in value:
            if not re.fullmatch(METHOD_KEY, key):
                raise ValueError(f"method key {key!r} must look like /pets/GET (resource path, then the method)")
        return value

    @field_validator("variables", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        # Stage variables are strings in AWS; YAML numbers and booleans are accepted as their text.
        if isinstance(value, dict):
            return {k: (str(v).lower() if isinstance(v, bool) else str(v)) if isinstance(v, (int, float, bool)) else v
                    for k, v in value.items()}
        return value

    @field_validator("variables")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ValueError(f"stage variable name {name!r} may only contain A-Z, a-z, 0-9 and _")
        return value


class ApiConfig(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    openapi: str
    protocol: Literal["REST", "HTTP"] | None = None
    cors_on_errors: bool = False
    stages: dict[str, StageConfig] = Field(default_factory=dict)


class FunctionConfig(_Strict):
    handler: str = Field(pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_.]*$")
    timeout: float | None = Field(default=None, gt=0, le=900)
    memory: int = Field(default=128, ge=128, le=10240)
    environment: dict[str, str] = Field(default_factory=dict)
    invoke_permission: list[str] | None = None


DEFAULT_LIMITS = Limits()


class LimitsConfig(_Strict):
    max_body_bytes: int = Field(default=DEFAULT_LIMITS.max_body_bytes, gt=0)
    max_header_bytes: int = Field(default=DEFAULT_LIMITS.max_header_bytes, gt=0)
    header_timeout: float = Field(default=DEFAULT_LIMITS.header_timeout_s, gt=0)
    body_timeout: float = Field(default=DEFAULT_LIMITS.body_timeout_s, gt=0)
    keepalive_timeout: float = Field(default=DEFAULT_LIMITS.keepalive_timeout_s, gt=0)


_IAM_NAME_CHARS = SchemaValidator(core_schema.str_schema(pattern=r"^[\w+=,.@-]+$"))


def _iam_name(shortest: int) -> AfterValidator:
    """``Field(pattern=r"^[\\w+=,.@-]{SHORTEST,64}$")``, with the same verdicts and errors. That
    pattern, compiled by pydantic-core (Unicode ``\\w`` repeated up to 64 times), takes about 7 MB
    of memory for each field; the same character class without the count takes well under 1 MB."""
    pattern = rf"^[\w+=,.@-]{{{shortest},64}}$"

    def check(value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # pydantic-core reads a pattern's input as UTF-8 first
            raise PydanticCustomError("string_unicode", "Input should be a valid string, unable to parse raw "
                                                        "data as a unicode string") from None
        if not (shortest <= len(value) <= 64 and _IAM_NAME_CHARS.isinstance_python(value)):
            raise PydanticCustomError("string_pattern_mismatch", "String should match pattern '{pattern}'",
                                      {"pattern": pattern})
        return value
    return AfterValidator(check)


class UserKeyConfig(_Strict):
    id: str = Field(pattern=r"^[A-Z0-9]{16,128}$")
    secret: str = Field(min_length=1)


class UserConfig(_Strict):
    name: Annotated[str, _iam_name(1)]
    access_keys: list[UserKeyConfig] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    policies: list[dict[str, Any]] = Field(default_factory=list)


class AccessKeyConfig(_Strict):
    id: str = Field(pattern=r"^[A-Z0-9]{16,128}$")
    secret: str = Field(min_length=1)
    user: str | None = None
    role: str | None = None
    session_name: Annotated[str, _iam_name(2)] | None = None
    session_token: str | None = None
    expiration: datetime | None = None
    issued_at: datetime | None = None
    session_tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_owner(self) -> "AccessKeyConfig":
        if (self.user is None) == (self.role is None):
            raise ValueError("an access key belongs to exactly one of 'user' or 'role'")
        return self


class IdentitiesConfig(_Strict):
    authorization_details: str | None = None
    users: list[UserConfig] = Field(default_factory=list)
    access_keys: list[AccessKeyConfig] = Field(default_factory=list)


class LocalIdpConfig(_Strict):
    port: int = Field(default=9229, ge=1, le=65535)
    user_pools: list[str] = Field(default_factory=list)
    issuers: list[str] = Field(default_factory=list)
    client_id: str = "lychgate-local-client"


class ApiStageConfig(_Strict):
    api_id: str
    stage: str
    throttle: dict[str, ThrottleConfig] = Field(default_factory=dict)


class UsagePlanConfig(_Strict):
    name: str = Field(min_length=1)
    api_stages: list[ApiStageConfig] = Field(default_factory=list)
    throttle: ThrottleConfig | None = None
    quota: QuotaConfig | None = None


class ApiKeyConfig(_Strict):
    name: str = Field(min_length=1, max_length=1024)
    value: str | None = Field(default=None, min_length=20, max_length=128)
    enabled: bool = True
    usage_plans: list[str] = Field(default_factory=list)


class ProjectConfig(_Strict):
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    account_id: str = Field(default="123456789012", pattern=r"^\d{12}$")
    apis: list[ApiConfig] = Field(min_length=1)
    functions: dict[str, FunctionConfig] = Field(default_factory=dict)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    identities: IdentitiesConfig | None = None
    local_idp: LocalIdpConfig | None = None
    usage_plans: list[UsagePlanConfig] = Field(default_factory=list)
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    state: str = Field(default="memory", pattern=r"^(memory|sqlite:///.+|rediss?(\+cluster)?://.+)$")
    on_state_failure: Literal["deny", "allow"] = "deny"

    @field_validator("functions", mode="before")
    @classmethod
    def _handler_shorthand(cls, value: Any) -> Any:
        # `name: path.py:handler` is short for `name: {handler: path.py:handler}`.
        if isinstance(value, dict):
            return {k: {"handler": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
