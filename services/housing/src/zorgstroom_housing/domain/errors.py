"""What housing's storage refuses, as domain errors (the adapters translate the database's refusals)."""


class HousingRefusal(Exception):
    """A change the quotas or the offers' rules do not allow."""


class QuotaExhausted(HousingRefusal):
    """An offer would pass the corporation's quota for that municipality and year (or there is none)."""


class ContingentBelowUse(HousingRefusal):
    """A quota would drop below the homes already used or promised in open offers."""
