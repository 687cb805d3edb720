"""The gRPC adapter of ContactsService: request in, use case, response out."""

from __future__ import annotations

import grpc

from meshkit.db import Database
from meshkit.identity import current_principal
from protos.crm.contacts.v1 import contacts_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2_grpc
from services.contacts import (
    aggregates,
    imports,
    indicators_admin,
    mapping,
    organisation,
    privacy,
    privacy_mapping,
    service,
)
from services.contacts import aggregates_mapping as agg_mapping
from services.contacts import organisation_mapping as org_mapping
from services.contacts.aggregate_snapshots import StatementSlots
from services.contacts.clients import SuppressionList


class ContactsServicer(contacts_pb2_grpc.ContactsServiceServicer):
    """Maps each RPC to its use case; identity comes from the auth interceptor."""

    def __init__(
        self,
        db: Database,
        suppression: SuppressionList,
        audit_secret: str = "",
        audit_retention_days: int = 365,
        snapshot_seconds: float | None = None,
        statement_slots: StatementSlots | None = None,
    ):
        self._db = db
        self._suppression = suppression  # consent's list, checked by every import
        self._audit_secret = audit_secret  # keys the aggregate auditor's contact hashes
        self._audit_retention_days = audit_retention_days
        self._snapshot_seconds = snapshot_seconds  # the aggregate snapshots' TTL (None: none)
        self._statement_slots = statement_slots  # aggregate statements at once (None: any)

    # --- Organisation tree -------------------------------------------------------------

    def CreateComponent(
        self, request: pb.CreateComponentRequest, context: grpc.ServicerContext
    ) -> pb.Component:
        component = service.create_component(
            self._db, current_principal(), request.id, request.name
        )
        return mapping.component_message(component)

    def ListComponents(
        self, request: pb.ListComponentsRequest, context: grpc.ServicerContext
    ) -> pb.ListComponentsResponse:
        components, next_token = service.list_components(
            self._db, current_principal(), request.page_size, request.page_token
        )
        return pb.ListComponentsResponse(
            next_page_token=next_token,
            components=[mapping.component_message(c) for c in components],
        )

    # --- Contacts ----------------------------------------------------------------------

    def CreateContact(
        self, request: pb.CreateContactRequest, context: grpc.ServicerContext
    ) -> pb.CreateContactResponse:
        shown, joined = service.create_contact(
            self._db, current_principal(), mapping.kind_of(request.kind), dict(request.fields)
        )
        return pb.CreateContactResponse(
            contact=mapping.contact_message(shown), joined_existing=joined
        )

    def GetContact(
        self, request: pb.GetContactRequest, context: grpc.ServicerContext
    ) -> pb.Contact:
        shown = service.get_contact(
            self._db, current_principal(), request.id, mapping.view_as_of(request)
        )
        return mapping.contact_message(shown)

    def UpdateContact(
        self, request: pb.UpdateContactRequest, context: grpc.ServicerContext
    ) -> pb.Contact:
        shown = service.update_contact(
            self._db,
            current_principal(),
            request.id,
            request.etag,
            dict(request.set),
            list(request.clear),
        )
        return mapping.contact_message(shown)

    def LeaveContact(
        self, request: pb.LeaveContactRequest, context: grpc.ServicerContext
    ) -> pb.LeaveContactResponse:
        deleted = service.leave_contact(self._db, current_principal(), request.id)
        return pb.LeaveContactResponse(contact_deleted=deleted)

    def DeleteContact(
        self, request: pb.DeleteContactRequest, context: grpc.ServicerContext
    ) -> pb.DeleteContactResponse:
        service.delete_contact(self._db, current_principal(), request.id)
        return pb.DeleteContactResponse()

    def SearchContacts(
        self, request: pb.SearchContactsRequest, context: grpc.ServicerContext
    ) -> pb.SearchContactsResponse:
        page = service.search_contacts(
            self._db,
            current_principal(),
            request.member_of,
            mapping.kind_of(request.kind),
            request.updated_since,
            mapping.raw_filters(request.filters),
            request.page_size,
            request.page_token,
        )
        return pb.SearchContactsResponse(
            contacts=[mapping.contact_message(s) for s in page.contacts],
            next_page_token=page.next_page_token,
        )

    # --- For the other services --------------------------------------------------------

    def AudienceIds(
        self, request: pb.AudienceIdsRequest, context: grpc.ServicerContext
    ) -> pb.AudienceIdsResponse:
        ids, next_token = service.audience_ids(
            self._db,
            current_principal(),
            request.component_id,
            mapping.kind_of(request.kind),
            mapping.raw_filters(request.filters),
            request.page_size,
            request.page_token,
        )
        return pb.AudienceIdsResponse(ids=ids, next_page_token=next_token)

    def ResolveRecipients(
        self, request: pb.ResolveRecipientsRequest, context: grpc.ServicerContext
    ) -> pb.ResolveRecipientsResponse:
        resolutions = service.resolve_recipients(
            self._db,
            current_principal(),
            request.component_id,
            request.purpose,
            list(request.contact_ids),
            list(request.fields),
        )
        return pb.ResolveRecipientsResponse(
            recipients=[mapping.recipient_message(r) for r in resolutions]
        )

    def ExistingContacts(
        self, request: pb.ExistingContactsRequest, context: grpc.ServicerContext
    ) -> pb.ExistingContactsResponse:
        found = service.existing_contacts(self._db, current_principal(), list(request.ids))
        return mapping.existing_message(found)

    # --- Data protection ---------------------------------------------------------------

    def MergeContacts(
        self, request: pb.MergeContactsRequest, context: grpc.ServicerContext
    ) -> pb.MergeContactsResponse:
        outcome = privacy.merge_contacts(
            self._db,
            current_principal(),
            request.survivor_id,
            request.merged_id,
            [privacy.Choice(c.field, c.owner_component, c.keep_merged) for c in request.choices],
        )
        return privacy_mapping.merge_message(outcome)

    def ListSensitiveReads(
        self, request: pb.ListSensitiveReadsRequest, context: grpc.ServicerContext
    ) -> pb.ListSensitiveReadsResponse:
        page = privacy.list_sensitive_reads(
            self._db, current_principal(), request.contact_id, request.page_size, request.page_token
        )
        return privacy_mapping.reads_message(page)

    def ExportContact(
        self, request: pb.ExportContactRequest, context: grpc.ServicerContext
    ) -> pb.ContactExport:
        export = privacy.export_contact(self._db, current_principal(), request.id)
        return privacy_mapping.export_message(export)

    def RectifyContact(
        self, request: pb.RectifyContactRequest, context: grpc.ServicerContext
    ) -> pb.Contact:
        shown = privacy.rectify_contact(
            self._db,
            current_principal(),
            request.id,
            request.owner_component,
            dict(request.set),
            list(request.clear),
        )
        return mapping.contact_message(shown)

    def EraseContact(
        self, request: pb.EraseContactRequest, context: grpc.ServicerContext
    ) -> pb.EraseContactResponse:
        tombstone = privacy.erase_contact(self._db, current_principal(), request.id)
        return pb.EraseContactResponse(tombstone_id=tombstone)

    # --- Organisation tree, catalogue and field policies (i6-org) --------------------------

    def CreateService(
        self, request: pb.CreateServiceRequest, context: grpc.ServicerContext
    ) -> pb.OrgService:
        created = organisation.create_service(
            self._db, current_principal(), request.component_id, request.id, request.name
        )
        return org_mapping.org_service_message(created)

    def SetLevels(self, request: pb.SetLevelsRequest, context: grpc.ServicerContext) -> pb.Levels:
        levels = organisation.set_levels(self._db, current_principal(), list(request.levels))
        return pb.Levels(levels=list(levels))

    def PutPerson(self, request: pb.PutPersonRequest, context: grpc.ServicerContext) -> pb.Person:
        person = org_mapping.person_of(request.person)
        return org_mapping.person_message(
            organisation.put_person(self._db, current_principal(), person)
        )

    def RemovePerson(
        self, request: pb.RemovePersonRequest, context: grpc.ServicerContext
    ) -> pb.RemovePersonResponse:
        organisation.remove_person(self._db, current_principal(), request.subject)
        return pb.RemovePersonResponse()

    def GetOrganisation(
        self, request: pb.GetOrganisationRequest, context: grpc.ServicerContext
    ) -> pb.Organisation:
        tree = organisation.get_organisation(self._db, current_principal())
        return org_mapping.organisation_message(tree)

    def GetCatalogue(
        self, request: pb.GetCatalogueRequest, context: grpc.ServicerContext
    ) -> pb.Catalogue:
        fields, next_token = organisation.get_catalogue(
            self._db, current_principal(), request.page_size, request.page_token
        )
        return org_mapping.catalogue_message(fields, next_token)

    def DefineAttribute(
        self, request: pb.DefineAttributeRequest, context: grpc.ServicerContext
    ) -> pb.AttributeDefinition:
        spec = org_mapping.attribute_spec_of(request.attribute)
        defined = organisation.define_attribute(self._db, current_principal(), spec)
        return org_mapping.attribute_message(defined)

    def SetFieldPolicy(
        self, request: pb.SetFieldPolicyRequest, context: grpc.ServicerContext
    ) -> pb.FieldPolicy:
        policy = request.policy
        read = [org_mapping.grant_of(g) for g in policy.read]
        write = [org_mapping.grant_of(g) for g in policy.write]
        aggregate = [org_mapping.grant_of(g) for g in policy.aggregate]
        changed = organisation.set_field_policy(
            self._db, current_principal(), policy.field, read, write, aggregate
        )
        return org_mapping.policy_message(changed)

    def ListFieldPolicies(
        self, request: pb.ListFieldPoliciesRequest, context: grpc.ServicerContext
    ) -> pb.ListFieldPoliciesResponse:
        policies, next_token = organisation.list_field_policies(
            self._db, current_principal(), request.page_size, request.page_token
        )
        return pb.ListFieldPoliciesResponse(
            policies=[org_mapping.policy_message(p) for p in policies], next_page_token=next_token
        )

    def ListFieldPolicyChanges(
        self, request: pb.ListFieldPolicyChangesRequest, context: grpc.ServicerContext
    ) -> pb.ListFieldPolicyChangesResponse:
        changes, next_token = organisation.list_field_policy_changes(
            self._db, current_principal(), request.field, request.page_size, request.page_token
        )
        return pb.ListFieldPolicyChangesResponse(
            changes=[org_mapping.change_message(c) for c in changes], next_page_token=next_token
        )

    # --- Indicators ----------------------------------------------------------------------

    def PutDimension(self, request: pb.Dimension, context: grpc.ServicerContext) -> pb.Dimension:
        dimension = indicators_admin.put_dimension(
            self._db, current_principal(), agg_mapping.dimension_of(request)
        )
        return agg_mapping.dimension_message(dimension)

    def ListDimensions(
        self, request: pb.ListDimensionsRequest, context: grpc.ServicerContext
    ) -> pb.ListDimensionsResponse:
        listed, next_token = indicators_admin.list_dimensions(
            self._db, current_principal(), request.page_size, request.page_token
        )
        return pb.ListDimensionsResponse(
            dimensions=[agg_mapping.dimension_message(d) for d in listed],
            next_page_token=next_token,
        )

    def DeleteDimension(
        self, request: pb.DeleteDimensionRequest, context: grpc.ServicerContext
    ) -> pb.DeleteDimensionResponse:
        indicators_admin.delete_dimension(self._db, current_principal(), request.id)
        return pb.DeleteDimensionResponse()

    def GetDisclosureRules(
        self, request: pb.GetDisclosureRulesRequest, context: grpc.ServicerContext
    ) -> pb.DisclosureRules:
        rules = indicators_admin.get_disclosure_rules(self._db, current_principal())
        return agg_mapping.rules_message(rules)

    def SetDisclosureRules(
        self, request: pb.DisclosureRules, context: grpc.ServicerContext
    ) -> pb.DisclosureRules:
        rules = indicators_admin.set_disclosure_rules(
            self._db, current_principal(), request.k, request.p, request.min_components
        )
        return agg_mapping.rules_message(rules)

    def Aggregate(
        self, request: pb.AggregateRequest, context: grpc.ServicerContext
    ) -> pb.AggregateResponse:
        answer = aggregates.aggregate(
            self._db,
            current_principal(),
            agg_mapping.query_of(request),
            self._audit_secret,
            self._audit_retention_days,
            self._snapshot_seconds,
            self._statement_slots,
        )
        return agg_mapping.answer_message(answer)

    # --- Imports -----------------------------------------------------------------------

    def ImportContacts(
        self, request: pb.ImportContactsRequest, context: grpc.ServicerContext
    ) -> pb.ImportContactsResponse:
        rows = [_import_row(row) for row in request.rows]
        reports = imports.import_contacts(
            self._db, current_principal(), request.import_id, request.first_line, rows,
            request.dry_run, self._suppression,
        )  # fmt: skip
        return pb.ImportContactsResponse(rows=[_row_report(r) for r in reports])

    def GetImport(
        self, request: pb.GetImportRequest, context: grpc.ServicerContext
    ) -> pb.ImportStatus:
        status = imports.get_import(self._db, current_principal(), request.import_id)
        return pb.ImportStatus(
            import_id=status.import_id, last_line=status.last_line, counts=dict(status.counts)
        )


# --- Imports: mapping of the import messages (kept with their RPCs) ---------------------

_OUTCOMES = {
    imports.Outcome.CREATED: pb.ROW_OUTCOME_CREATED,
    imports.Outcome.JOINED: pb.ROW_OUTCOME_JOINED,
    imports.Outcome.UPDATED: pb.ROW_OUTCOME_UPDATED,
    imports.Outcome.UNCHANGED: pb.ROW_OUTCOME_UNCHANGED,
    imports.Outcome.REJECTED: pb.ROW_OUTCOME_REJECTED,
}


def _import_row(row: pb.ImportRow) -> imports.ImportRow:
    return imports.ImportRow(row.line, mapping.kind_of(row.kind), dict(row.fields))


def _row_report(report: imports.RowReport) -> pb.RowReport:
    return pb.RowReport(
        line=report.line,
        outcome=_OUTCOMES[report.outcome],
        contact_id=report.contact_id,
        problems=[
            pb.RowProblem(column=p.column, description=p.description) for p in report.problems
        ],
        same_as_line=report.same_as_line,
    )
