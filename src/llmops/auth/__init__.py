"""Users, API keys, roles and the audit trail."""

from llmops.auth.keys import ApiKey, Principal, create_key, list_keys, revoke_key, verify_key
from llmops.auth.roles import GRANTS, Permission, Role, allows

__all__ = [
    "GRANTS",
    "ApiKey",
    "Permission",
    "Principal",
    "Role",
    "allows",
    "create_key",
    "list_keys",
    "revoke_key",
    "verify_key",
]
