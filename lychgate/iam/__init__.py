"""Pure IAM policy engine: compile policy documents once, evaluate requests, explain decisions.

Standard library only and independent of the rest of lychgate. See
``../shared/spec/iam-and-sigv4.md`` PART A and gateway-behavior §1.3.
"""

from .arn import ApiScope, Arn, execute_api_arn, expand_shorthand, mask_account, parse_arn
from .conditions import ConditionMiss
from .errors import PolicyError
from .evaluate import Evaluation, PolicySetResult, authorize, evaluate_policies
from .messages import authorizer_denial_message, caller_name, denial_message, explain
from .policy import CompiledStatement, Policy, SharedParts, compile_policy
from .request import AuthzRequest, Principal
from .results import Decision, PolicySource, StatementMatch, StatementMiss

__all__ = [
    "ApiScope", "Arn", "AuthzRequest", "CompiledStatement", "ConditionMiss", "Decision", "Evaluation",
    "Policy", "PolicyError", "PolicySetResult", "PolicySource", "Principal", "SharedParts", "StatementMatch",
    "StatementMiss", "authorize", "authorizer_denial_message", "caller_name", "compile_policy",
    "denial_message", "evaluate_policies", "explain", "execute_api_arn", "expand_shorthand", "mask_account",
    "parse_arn",
]
