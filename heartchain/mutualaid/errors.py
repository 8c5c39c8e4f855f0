from __future__ import annotations

from heartchain.errors import Conflict, NotFound, PermissionDenied, ValidationError


class UnknownPlan(NotFound):
    pass


class UnknownCase(NotFound):
    pass


class NotAMember(NotFound):
    """The address has no membership in the plan."""


class AlreadyJoined(Conflict):
    pass


class NotCovered(PermissionDenied):
    """Not covered now: still waiting, lapsed, or left."""


class RuleBroken(ValidationError):
    """A plan rule refuses this (age range, cap, minimum prepay, condition list)."""


class WrongStage(Conflict):
    """The case is not at the step this entry needs (e.g. deciding before the notice ends)."""


class PeriodMismatch(ValidationError):
    """A period.apportion body disagrees with what the projections give."""


class PeriodExists(Conflict):
    pass


class UnknownHospital(NotFound):
    """Cases name a hospital by the code the operator registered it under."""


class NotAuthorised(PermissionDenied):
    """Only the member, a proxy they authorised, or the operator may open a case for them."""
