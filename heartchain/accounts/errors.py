from __future__ import annotations

from heartchain.errors import Conflict, NotFound, PermissionDenied


class AccountExists(Conflict):
    pass


class UnknownAccount(NotFound):
    pass


class RoleRequired(PermissionDenied):
    pass
