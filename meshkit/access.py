"""The role every RPC of the mesh needs: one table, read by the services and by the tests.

Each gRPC method of the three services is declared here with the roles that
allow it (any one suffices); an empty set means any signed-in caller. The
gRPC interceptor refuses a method this table does not declare (deny by
default), and tests iterate the service descriptors to check that every RPC is
declared and refused without its role. Services check their roles again in
their use cases; this table is the first gate, not the only one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from meshkit.errors import PermissionDenied
from meshkit.identity import Principal
from meshkit.roles import Role

SIGNED_IN: frozenset[Role] = frozenset()  # any verified token
ADMIN = frozenset({Role.ADMIN})
SERVICE = frozenset({Role.SERVICE})
CONTACT_EDITOR = frozenset({Role.CONTACT_EDITOR})
CAMPAIGN_MANAGER = frozenset({Role.CAMPAIGN_MANAGER})
DPO = frozenset({Role.DPO})

_CONTACTS = "/crm.contacts.v1.ContactsService/"
_CONSENT = "/crm.consent.v1.ConsentService/"
_CAMPAIGNS = "/crm.campaigns.v1.CampaignsService/"
_INTERACTIONS = "/crm.campaigns.v1.InteractionsService/"
_PRESSURE = "/crm.campaigns.v1.PressurePolicyService/"

RPC_ROLES: Mapping[str, frozenset[Role]] = MappingProxyType(
    {
        # contacts: organisation tree
        _CONTACTS + "CreateComponent": ADMIN,
        _CONTACTS + "ListComponents": SIGNED_IN,
        _CONTACTS + "CreateService": ADMIN,
        _CONTACTS + "SetLevels": ADMIN,
        _CONTACTS + "PutPerson": ADMIN,
        _CONTACTS + "RemovePerson": ADMIN,
        _CONTACTS + "GetOrganisation": SIGNED_IN,  # people: admins and services only
        # contacts: catalogue and policies
        _CONTACTS + "GetCatalogue": SIGNED_IN,
        _CONTACTS + "DefineAttribute": ADMIN,
        _CONTACTS + "SetFieldPolicy": ADMIN,
        _CONTACTS + "ListFieldPolicies": SIGNED_IN,
        _CONTACTS + "ListFieldPolicyChanges": ADMIN,
        # contacts: indicators (what may be aggregated: the field policies, checked by contacts)
        _CONTACTS + "PutDimension": ADMIN,
        _CONTACTS + "ListDimensions": SIGNED_IN,
        _CONTACTS + "DeleteDimension": ADMIN,
        _CONTACTS + "GetDisclosureRules": SIGNED_IN,
        _CONTACTS + "SetDisclosureRules": ADMIN,
        _CONTACTS + "Aggregate": SIGNED_IN,
        # contacts: contacts
        _CONTACTS + "CreateContact": CONTACT_EDITOR,
        _CONTACTS + "GetContact": SIGNED_IN,
        _CONTACTS + "UpdateContact": CONTACT_EDITOR,
        _CONTACTS + "LeaveContact": CONTACT_EDITOR,
        _CONTACTS + "DeleteContact": ADMIN,
        _CONTACTS + "SearchContacts": SIGNED_IN,
        # contacts: imports
        _CONTACTS + "ImportContacts": CONTACT_EDITOR,
        _CONTACTS + "GetImport": CONTACT_EDITOR,
        # contacts: data protection
        _CONTACTS + "MergeContacts": frozenset({Role.ADMIN, Role.DPO}),
        _CONTACTS + "ListSensitiveReads": DPO,
        # export and rectify: services too (consent drives the grouping dpo's privacy requests)
        _CONTACTS + "ExportContact": frozenset({Role.DPO, Role.SERVICE}),
        _CONTACTS + "RectifyContact": frozenset({Role.DPO, Role.SERVICE}),
        _CONTACTS + "EraseContact": frozenset({Role.DPO, Role.SERVICE}),
        # contacts: for the other services
        _CONTACTS + "AudienceIds": SERVICE,
        _CONTACTS + "ResolveRecipients": SERVICE,
        _CONTACTS + "ExistingContacts": SERVICE,
        # consent (its scopes decide the rest: see services/consent/policy.py)
        _CONSENT + "Grant": SIGNED_IN,
        _CONSENT + "Withdraw": SIGNED_IN,
        _CONSENT + "RecordChanges": SIGNED_IN,  # each change checked as Grant or Withdraw
        _CONSENT + "GetHistory": SIGNED_IN,
        _CONSENT + "CheckBatch": SERVICE,
        _CONSENT + "MergeContacts": SERVICE,
        _CONSENT + "CreatePurpose": ADMIN,
        _CONSENT + "UpdatePurpose": ADMIN,
        _CONSENT + "ListPurposes": SIGNED_IN,  # the preference page and staff forms read it
        _CONSENT + "SetBasisRule": ADMIN,
        _CONSENT + "ListBasisRules": SIGNED_IN,
        _CONSENT + "PublishNotice": ADMIN,
        _CONSENT + "ListNotices": SIGNED_IN,
        _CONSENT + "Deny": SIGNED_IN,
        _CONSENT + "Object": SIGNED_IN,
        _CONSENT + "Confirm": SERVICE,
        _CONSENT + "Revalidate": SERVICE,
        _CONSENT + "GetState": SIGNED_IN,
        # consent: suppression list and receipts
        _CONSENT + "Suppress": frozenset({Role.SERVICE, Role.DPO}),
        _CONSENT + "FilterSuppressed": SERVICE,
        _CONSENT + "GetReceipt": SIGNED_IN,  # its recording component's staff, dpo, services
        _CONSENT + "GetReceiptKeys": SIGNED_IN,
        # consent: privacy requests (the use cases also require no component)
        _CONSENT + "OpenPrivacyRequest": DPO,
        _CONSENT + "GetPrivacyRequest": DPO,
        _CONSENT + "ListPrivacyRequests": DPO,
        _CONSENT + "GetPrivacyExport": DPO,
        _CONSENT + "EraseContact": frozenset({Role.DPO, Role.SERVICE}),
        _CONSENT + "ListConsentEvents": SERVICE,  # campaigns' pressure dashboard
        # campaigns
        _CAMPAIGNS + "CreateCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "GetCampaign": SIGNED_IN,
        _CAMPAIGNS + "ListCampaigns": SIGNED_IN,
        _CAMPAIGNS + "ScheduleCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "SendNow": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "ListDeliveries": SIGNED_IN,
        _CAMPAIGNS + "MergeContacts": SERVICE,
        # the consent service or CAMPAIGNS_TRANSACTIONAL_ROLES: checked by campaigns itself
        _CAMPAIGNS + "SendTransactional": SIGNED_IN,
        _CAMPAIGNS + "ExportContact": SERVICE,
        _CAMPAIGNS + "EraseContact": SERVICE,
        # campaigns: interaction history (members, their roles and services: checked by campaigns)
        _INTERACTIONS + "RecordInteraction": SIGNED_IN,
        _INTERACTIONS + "ListInteractions": SIGNED_IN,
        _CAMPAIGNS + "UpdateCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "UnscheduleCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "PauseCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "ResumeCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "CancelCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "SendTestCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "PreviewCampaign": CAMPAIGN_MANAGER,
        _CAMPAIGNS + "GetReach": CAMPAIGN_MANAGER,
        # campaigns: the pressure policy (not personal data: any signed-in caller reads it)
        _PRESSURE + "GetPressurePolicy": SIGNED_IN,
        _PRESSURE + "PutPressurePolicy": ADMIN,
        _PRESSURE + "ListPressurePolicyVersions": SIGNED_IN,
        # a contact's pressure: those who read its interaction history (checked by campaigns)
        _PRESSURE + "GetContactPressure": SIGNED_IN,
        _PRESSURE + "SimulatePressure": ADMIN,
        # the grouping's dashboard: communication, admins, dpo; a component's: also its staff
        _PRESSURE + "GetPressureDashboard": SIGNED_IN,
    }
)


def roles_needed(method: str) -> frozenset[Role]:
    """The roles that allow `method` (any one); PermissionDenied for an undeclared method."""
    needed = RPC_ROLES.get(method)
    if needed is None:
        raise PermissionDenied("this operation declares no role: refused")
    return needed


def require(method: str, principal: Principal) -> None:
    """PermissionDenied naming the role(s) `method` needs when the principal has none of them."""
    needed = roles_needed(method)
    if needed and not any(principal.has_role(role) for role in needed):
        names = " or ".join(sorted(role.value for role in needed))
        raise PermissionDenied(f"this operation needs the {names} role")
